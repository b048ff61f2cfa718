package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/sshpot"
	"github.com/vallum/vallum/internal/sensor/tcppot"
)

// Directories inside the data directory.
const (
	sensorsDir     = "sensors"      // one state directory per honeypot
	intakeSpoolDir = "intake-spool" // the pipeline's overflow spool
	intakeStateDir = "intake-state" // offsets of tailed files
)

// setupSensors starts the configured honeypots and event intake: the
// event pipeline (the honeypots' sink, the API's event endpoints), the
// honeytoken registry it matches events against, the syslog listeners
// and the tailed Suricata files. The sources run in one background task
// that stops them first and the pipeline last, so that events still
// queued at shutdown are spooled, not lost.
func setupSensors(ctx context.Context, rt *runtime) error {
	cfg := rt.cfg
	if rt.srv.Honeytokens == nil {
		reg, err := honeytoken.Open(ctx, rt.db, rt.log, honeytoken.Options{Domain: cfg.Sensors.HoneytokenDomain})
		if err != nil {
			return fmt.Errorf("couldn't open the honeytoken registry: %w", err)
		}
		rt.srv.Honeytokens = &api.HoneytokenService{Registry: reg}
	}
	reg := rt.srv.Honeytokens.Registry
	p, err := intake.Open(ctx, intake.Config{
		Log: rt.log, DB: rt.db, Desk: rt.desk,
		Tokens: intake.TokenMatchFunc(func(e sensor.Event) (string, bool) {
			t, ok := reg.Match(e)
			return t.ID, ok
		}),
		SpoolDir:   filepath.Join(cfg.Data, intakeSpoolDir),
		Intake:     cfg.Intake,
		MaxPayload: cfg.Log.MaxPayload,
		Logger:     rt.logger.With("component", "intake"),
	})
	if err != nil {
		return err
	}
	svc := &api.EventService{Pipeline: p, Sensor: cfg.Sensors.Name, SuricataTypes: cfg.Intake.Suricata.Types, WebhookFields: cfg.Intake.Webhook.Fields}
	if f := cfg.Intake.Webhook.HMACSecretFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("couldn't read intake.webhook.hmac_secret_file: %w", err)
		}
		if svc.WebhookSecret = []byte(strings.TrimSpace(string(b))); len(svc.WebhookSecret) < 16 {
			return fmt.Errorf("the webhook secret in %s is shorter than 16 bytes", f)
		}
	}
	rt.srv.Events = svc

	sources, err := honeypots(cfg.Sensors, filepath.Join(cfg.Data, sensorsDir), p, rt.logger)
	if err != nil {
		return err
	}
	if cfg.Intake.Syslog.UDP != "" || cfg.Intake.Syslog.TCP != "" {
		sl := &intake.SyslogServer{UDP: cfg.Intake.Syslog.UDP, TCP: cfg.Intake.Syslog.TCP, MaxMessage: cfg.Intake.Syslog.MaxMessage,
			MaxConns: cfg.Intake.Syslog.MaxConns, Sensor: cfg.Sensors.Name + "/syslog", Sink: p, Logger: rt.logger.With("component", "syslog")}
		if err := sl.Listen(); err != nil {
			return err
		}
		rt.logger.Info("syslog intake listening", "udp", addrString(sl.UDPAddr()), "tcp", addrString(sl.TCPAddr()))
		sources = append(sources, sl.Serve)
	}
	for _, f := range cfg.Intake.Suricata.Files {
		t := &intake.Tail{Path: f, StateDir: filepath.Join(cfg.Data, intakeStateDir), Poll: cfg.Intake.Suricata.Poll,
			Types: cfg.Intake.Suricata.Types, Sensor: cfg.Sensors.Name + "/suricata", Out: p, Logger: rt.logger.With("component", "eve", "path", f)}
		sources = append(sources, t.Run)
	}
	rt.background = append(rt.background, func(ctx context.Context) error {
		return runWithSources(ctx, p.Run, sources)
	})
	return nil
}

// runWithSources runs the sources until ctx ends (or one fails), then
// stops the pipeline run by runPipeline, which outlives them.
func runWithSources(ctx context.Context, runPipeline func(context.Context) error, sources []func(context.Context) error) error {
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	perr := make(chan error, 1)
	go func() { perr <- runPipeline(pctx) }()
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error { <-gctx.Done(); return nil }) // run until ctx ends, sources or not
	for _, run := range sources {
		eg.Go(func() error { return run(gctx) })
	}
	err := eg.Wait()
	stop()
	return errors.Join(err, <-perr)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// honeypots builds the enabled honeypots of cfg, each with its own state
// directory under dir, and returns their Serve functions. `vallum serve`
// and `vallum sensor` share it.
func honeypots(cfg config.Sensors, dir string, sink sensor.Sink, logger *slog.Logger) ([]func(context.Context) error, error) {
	budget := sensor.NewBudget(cfg.MemoryBudget)
	env := func(proto string) (sensor.Env, error) {
		d := filepath.Join(dir, proto)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return sensor.Env{}, fmt.Errorf("couldn't create the %s honeypot's directory: %w", proto, err)
		}
		return sensor.Env{Name: cfg.Name, Sink: sink, Dir: d, Budget: budget, Logger: logger.With("honeypot", proto)}, nil
	}
	var runs []func(context.Context) error
	if cfg.SSH.Enabled {
		e, err := env("ssh")
		if err != nil {
			return nil, err
		}
		s, err := sshpot.New(cfg.SSH, e)
		if err != nil {
			return nil, fmt.Errorf("ssh honeypot: %w", err)
		}
		runs = append(runs, s.Serve)
	}
	if cfg.HTTP.Enabled {
		e, err := env("http")
		if err != nil {
			return nil, err
		}
		s, err := httppot.New(cfg.HTTP, e)
		if err != nil {
			return nil, err // says "http honeypot: …"
		}
		runs = append(runs, s.Serve)
	}
	t := cfg.TCP
	if t.FTP.Enabled || t.Telnet.Enabled || t.Redis.Enabled || t.MySQL.Enabled || t.SMB.Enabled || t.RDP.Enabled {
		e, err := env("tcp")
		if err != nil {
			return nil, err
		}
		s, err := tcppot.New(cfg.TCP, e)
		if err != nil {
			return nil, err // says "tcp honeypots: …"
		}
		runs = append(runs, s.Serve)
	}
	return runs, nil
}
