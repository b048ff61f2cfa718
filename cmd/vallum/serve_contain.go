package main

import "context"

// setupContain opens the containment connectors and their expiry scheduler.
func setupContain(ctx context.Context, rt *runtime) error {
	return nil
}
