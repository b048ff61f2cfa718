package main

import "context"

// setupSensors starts the configured honeypots and event intake.
func setupSensors(ctx context.Context, rt *runtime) error {
	return nil
}
