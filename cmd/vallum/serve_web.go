package main

import (
	"context"
	"net/http"
)

// setupWeb returns the server's handler: the web console around the API.
func setupWeb(ctx context.Context, rt *runtime, api http.Handler) (http.Handler, error) {
	return api, nil
}
