package main

import (
	"context"
	"errors"
)

func runHoneytoken(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("vallum honeytoken: not built yet")
}
