package incident

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkTimeline builds an incident with 10,000 linked events and 1,000
// decided actions on a real log and database, reports the time and memory
// that took (build-s, build-MB), then measures reading its timeline
// (ns/op, which must stay under 100 ms).
func BenchmarkTimeline(b *testing.B) {
	const events, actions, workers = 10000, 1000, 64
	ctx := context.Background()
	e := newEnv(b, b.TempDir())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()

	// Sensor events arrive concurrently, as they would from the intake.
	idx := make([]int64, events)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < events; i += workers {
				r, err := e.log.Append(ctx, eventRecord())
				if err != nil {
					errs <- err
					return
				}
				idx[i] = r.Index
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	inc := mustIncident(b, e.desk)
	for i := 0; i < events; i += MaxLinkEvents {
		if _, err := e.desk.LinkEvents(ctx, paola, inc.ID, idx[i:min(events, i+MaxLinkEvents)]); err != nil {
			b.Fatal(err)
		}
	}
	for i := range actions {
		decided(b, e.desk, inc.ID, firewallBlock(fmt.Sprintf("192.0.2.%d", i%250+1)))
	}
	build := time.Since(start)
	runtime.ReadMemStats(&after)
	want := events + 1 + events/MaxLinkEvents + 2*actions
	for b.Loop() {
		items, err := e.desk.Timeline(ctx, inc.ID)
		if err != nil || len(items) != want {
			b.Fatalf("got %d items, %v, want %d", len(items), err, want)
		}
	}
	if per := b.Elapsed() / time.Duration(b.N); per > 100*time.Millisecond {
		b.Errorf("timeline took %v, want under 100 ms", per)
	}
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "build-MB")
}
