package main

import (
	"context"
	"errors"
)

func runReplay(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("vallum replay: not built yet")
}
