package intake

import (
	"context"
	"sync"

	"github.com/vallum/vallum/internal/sensor"
)

// feed fans logged events out to live subscribers (the console's live
// feed). A subscriber whose buffer is full is dropped rather than slowing
// the pipeline.
type feed struct {
	buf  int
	mu   sync.Mutex
	subs map[chan sensor.Event]struct{} // guarded by mu
}

func (f *feed) subscribe(ctx context.Context) <-chan sensor.Event {
	ch := make(chan sensor.Event, f.buf)
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[chan sensor.Event]struct{})
	}
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() { f.remove(ch) })
	return ch
}

// remove closes ch once, if still subscribed.
func (f *feed) remove(ch chan sensor.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[ch]; ok {
		delete(f.subs, ch)
		close(ch)
	}
}

func (f *feed) publish(e sensor.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

func (f *feed) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}
