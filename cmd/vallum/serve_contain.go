package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vallum/vallum/internal/api"
	"github.com/vallum/vallum/internal/contain"
)

// setupContain opens the containment connectors of the configuration,
// rebuilds the active containments from the log, reconciles the
// enforcement points with it (contain.reconcile), starts the expiry
// scheduler in the background (overdue expiries run at once) and serves
// the containment endpoints. Without connectors it does nothing: actions
// are executed by hand.
func setupContain(ctx context.Context, rt *runtime) error {
	cfg := rt.cfg.Contain
	if !cfg.Enabled() {
		return nil
	}
	var conns []contain.Connector
	self := contain.LocalAddrs()
	if host, _, err := net.SplitHostPort(rt.cfg.Listen); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			self = append(self, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	for _, s := range cfg.Self {
		p, err := contain.ParsePrefix(s)
		if err != nil {
			return err
		}
		self = append(self, p)
	}
	for _, c := range cfg.NFTables {
		n, err := contain.OpenNFTables(c)
		if err != nil {
			return withHint(err, "nftables needs CAP_NET_ADMIN (run as root, or grant the capability) and a kernel with nf_tables")
		}
		// The netlink socket closes when the server stops; the table and
		// its timeouts stay in the kernel.
		rt.background = append(rt.background, func(ctx context.Context) error {
			<-ctx.Done()
			return n.Close()
		})
		self = append(self, n.HostAddrs()...)
		if c.Isolation != nil {
			for _, m := range c.Isolation.Management {
				p, _ := contain.ParsePrefix(m)
				self = append(self, p)
			}
		}
		conns = append(conns, n)
	}
	for _, c := range cfg.RPZ {
		r, err := contain.NewRPZ(c)
		if err != nil {
			return err
		}
		conns = append(conns, r)
	}
	for _, c := range cfg.Webhooks {
		w, err := contain.NewWebhook(c, nil)
		if err != nil {
			return err
		}
		conns = append(conns, w)
	}
	m, err := contain.Open(ctx, contain.Options{
		Log: rt.log, Desk: rt.desk, Perimeter: rt.guard.Perimeter, Connectors: conns, Logger: rt.logger,
		DefaultExpiry: cfg.Expiry(),
		Safety:        contain.Safety{Self: self, MaxElements: cfg.MaxElements, MinBits4: cfg.MinPrefix4, MinBits6: cfg.MinPrefix6},
	})
	if err != nil {
		return fmt.Errorf("couldn't rebuild the active containments from the log: %w", err)
	}
	if cfg.Reconcile != "off" {
		drifts, err := m.Reconcile(ctx, contain.System, cfg.Reconcile == "repair")
		if err != nil {
			return fmt.Errorf("couldn't reconcile the enforcement points with the log: %w", err)
		}
		for _, d := range drifts {
			rt.logger.Warn("containment drift: the enforcement point and the log disagreed", "device", d.Device, "missing", len(d.Missing), "extra", len(d.Extra), "repaired", d.Repaired)
		}
	}
	rt.logger.Info("containment ready", "connectors", len(conns), "active", len(m.Active()))
	rt.background = append(rt.background, m.Run)
	rt.srv.Contain = &api.ContainService{Manager: m}
	return nil
}
