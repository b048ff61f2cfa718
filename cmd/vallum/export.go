package main

import (
	"context"
	"errors"
)

func runExport(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("vallum export: not built yet")
}
