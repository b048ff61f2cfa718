package main

import (
	"context"
	"errors"
)

func runSensor(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("vallum sensor: not built yet")
}
