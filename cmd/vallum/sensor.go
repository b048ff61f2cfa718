package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor/spool"
)

// runSensor runs only the honeypots of the configuration's sensors
// section and ships their events to a server (docs/sensors.md). Events go
// to a disk spool first and leave it only once the server has logged
// them, so a server that is down or unreachable loses nothing up to the
// spool's bound.
func runSensor(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "sensor", "sensor --server URL [--token T] [--config FILE] [--ca FILE | --pin sha256/…] [--spool DIR] [--data DIR] [--name NAME]")
	server := fs.String("server", "", "the Vallum server's URL (https://host:port; http only to loopback)")
	token := fs.String("token", "", "API token of a user with the analyst role (default $VALLUM_TOKEN); see docs/sensors.md")
	cfgPath := fs.String("config", "", "YAML configuration file; only its sensors section is used")
	caFile := fs.String("ca", "", "PEM file of the CA that signed the server's certificate (default: the system's roots)")
	pin := fs.String("pin", "", "accept only a server certificate whose public key has this SHA-256: sha256/<base64>")
	spoolDir := fs.String("spool", "", "spool directory (default DATA/spool)")
	data := fs.String("data", "./vallum-sensor", "state directory of the honeypots (host keys, transcripts, quarantine)")
	name := fs.String("name", "", "sensor name, the prefix of every event's sensor field (default: the config's sensors.name, or the host name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *server == "" {
		return &exitError{code: 2, err: withHint(errors.New("--server is required"), "vallum sensor --server https://vallum.example:8443 --token …")}
	}
	tok := *token
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv("VALLUM_TOKEN"))
	}
	if tok == "" {
		return &exitError{code: 2, err: withHint(errors.New("no API token"), "pass --token or set VALLUM_TOKEN to the token of the sensor's user")}
	}
	if *caFile != "" && *pin != "" {
		return &exitError{code: 2, err: errors.New("give --ca or --pin, not both")}
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	} else if err := cfg.Validate(); err != nil {
		return err
	}
	sc := cfg.Sensors
	switch {
	case *name != "":
		sc.Name = *name
	case sc.Name == "local":
		if h, err := os.Hostname(); err == nil && config.ValidSensorName(h) == nil {
			sc.Name = h
		}
	}
	if err := config.ValidSensorName(sc.Name); err != nil {
		return &exitError{code: 2, err: err}
	}
	client, err := spool.NewClient(*server, *caFile, *pin)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("couldn't create the sensor's directory: %w", err)
	}
	unlock, err := lockData(*data)
	if err != nil {
		return err
	}
	defer unlock()
	dir := *spoolDir
	if dir == "" {
		dir = filepath.Join(*data, "spool")
	}
	sp, err := spool.Open(dir, spool.Config{MaxBytes: sc.Spool.MaxBytes, SegmentBytes: sc.Spool.SegmentBytes, MaxEvent: cfg.Log.MaxPayload})
	if err != nil {
		return err
	}
	defer sp.Close()
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	sh := &spool.Shipper{Spool: sp, Server: *server, Token: tok, Client: client, Name: sc.Name, Logger: logger.With("component", "ship")}
	sh.Init()
	runs, err := honeypots(sc, filepath.Join(*data, sensorsDir), sh, logger)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		logger.Warn("no honeypot is enabled: only the spool is shipped", "hint", "enable sensors.ssh, sensors.http or sensors.tcp in the config")
	}
	if st := sp.Stats(); st.Events > 0 {
		logger.Info("the spool holds events from before; shipping them first", "events", st.Events)
	}
	fmt.Fprintf(env.stdout, "vallum sensor: %s shipping to %s (spool %s, %d honeypots)\n", sc.Name, *server, dir, len(runs))
	err = runWithSources(ctx, sh.Run, runs)
	st := sh.Stats()
	logger.Info("sensor stopped", "shipped", st.Shipped, "dropped", st.Dropped, "spooled", st.Spool.Events)
	return err
}
