package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// EnvCluster selects the cluster provider for scenarios that need one:
// kwok, node, kind or existing; "none" turns clusters off. Unset means kwok when
// its tools are built, else none.
const EnvCluster = "CHAOSLAB_CLUSTER"

// ClusterEnableHint is the one command that turns the cluster scenarios on.
const ClusterEnableHint = "make scenario CLUSTER=kwok SCENARIO=autoscaling (builds the kwok control plane on first use)"

// DefaultCluster is the provider the environment asks for, or kwok when its
// tools are built, or "" (none).
func DefaultCluster() string {
	switch v := strings.TrimSpace(os.Getenv(EnvCluster)); v {
	case "none":
		return ""
	case "":
		if p, err := cluster.Lookup("kwok"); err == nil {
			if ok, _ := p.Available(); ok {
				return "kwok"
			}
		}
		return ""
	default:
		return v
	}
}

// Cluster creates a cluster with the named provider for this lab and deletes
// it when the lab closes. unavailable is a one-line reason (what to install
// or run) when the provider cannot work on this machine; err is for a
// provider that should work and failed.
func (l *Lab) Cluster(ctx context.Context, provider string) (c *cluster.Cluster, unavailable string, err error) {
	if err := l.checkOpen(); err != nil {
		return nil, "", err
	}
	if provider == "" {
		return nil, "no cluster: run " + ClusterEnableHint, nil
	}
	p, err := cluster.Lookup(provider)
	if err != nil {
		return nil, "", err
	}
	if ok, reason := p.Available(); !ok {
		return nil, provider + " cluster unavailable: " + reason, nil
	}
	t0 := time.Now()
	c, err = p.Create(ctx, fmt.Sprintf("lab-%d", time.Now().UnixNano()%1_000_000))
	if err != nil {
		return nil, "", fmt.Errorf("%s cluster: %w", provider, err)
	}
	l.onClose("cluster "+c.Name, func() error {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return c.Delete(dctx)
	})
	l.watchCluster(c) // death.go
	l.Record("started", "cluster", fmt.Sprintf("%s cluster %s in %s", provider, c.Name, time.Since(t0).Round(time.Millisecond)))
	return c, "", nil
}

// OnClose runs fn when the lab closes, before what was started earlier
// stops: for things a scenario starts itself (a simulator, a watcher).
func (l *Lab) OnClose(name string, fn func() error) { l.onClose(name, fn) }

// SharedCluster starts the cluster a whole catalog run shares (one control
// plane, one warm metrics-server; scenarios take tenants of it with
// ClusterTenant). The caller deletes it at the end of the run. unavailable is
// the one-line reason when the provider cannot work here; ctx bounds only the
// start (the cluster outlives it).
func SharedCluster(ctx context.Context, provider string) (c *cluster.Cluster, unavailable string, err error) {
	if provider == "" {
		return nil, "no cluster: run " + ClusterEnableHint, nil
	}
	p, err := cluster.Lookup(provider)
	if err != nil {
		return nil, "", err
	}
	if ok, reason := p.Available(); !ok {
		return nil, provider + " cluster unavailable: " + reason, nil
	}
	// Create deletes the cluster when its ctx ends: the start may be
	// interrupted, but once up the cluster lives until Delete.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	c, err = p.Create(cctx, fmt.Sprintf("run-%d", os.Getpid()%1_000_000))
	if !stop() || err != nil {
		cancel()
		if err == nil {
			err = ctx.Err()
			_ = c.Delete(context.Background())
		}
		return nil, "", fmt.Errorf("shared %s cluster: %w", provider, err)
	}
	return c, "", nil
}

// ClusterTenant gives this lab a namespace of the run's shared cluster (see
// cluster.Cluster.Tenant); the lab's Close deletes the namespace and waits
// for it, deletes the nodes the scenario added and restores a node it
// reshaped. When an earlier scenario's cleanup failed the shared cluster is
// not used: the lab starts a cluster of its own (provider), as a run of one
// scenario does.
func (l *Lab) ClusterTenant(ctx context.Context, shared *cluster.Cluster, namespace string) (*cluster.Cluster, string, error) {
	if err := l.checkOpen(); err != nil {
		return nil, "", err
	}
	c, err := shared.Tenant(ctx, namespace)
	if errors.Is(err, cluster.ErrSharedUnusable) {
		l.Record("started", "cluster", fmt.Sprintf("not sharing cluster %s (%v): starting one for this scenario", shared.Name, err))
		return l.Cluster(ctx, shared.Provider)
	}
	if err != nil {
		return nil, "", fmt.Errorf("namespace on the shared %s cluster %s: %w", shared.Provider, shared.Name, err)
	}
	l.onClose("namespace "+namespace+" of cluster "+shared.Name, func() error {
		dctx, cancel := context.WithTimeout(context.Background(), cluster.TenantCleanupTimeout+time.Minute)
		defer cancel()
		return c.Delete(dctx)
	})
	l.Record("started", "cluster", fmt.Sprintf("namespace %s on the run's shared %s cluster %s in %s", namespace, shared.Provider, shared.Name, c.Started.Round(time.Millisecond)))
	return c, "", nil
}
