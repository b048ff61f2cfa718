package incident

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentDuplicatesOneWins sends the same declaration and the same
// submission from many goroutines at once: the duplicate checks run under
// the desk's lock, so exactly one of each reaches the log.
func TestConcurrentDuplicatesOneWins(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	aware := time.Now().Add(-time.Hour)
	race := func(f func() error) (ok int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := f()
				if err != nil && !errors.Is(err, ErrInvalid) {
					t.Errorf("unexpected error: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				}
			}()
		}
		wg.Wait()
		return ok
	}
	if n := race(func() error {
		_, err := e.desk.DeclareEvent(ctx, paola, inc.ID, "gdpr-33", "", aware, "records exfiltrated")
		return err
	}); n != 1 {
		t.Fatalf("%d concurrent identical declarations succeeded, want 1", n)
	}
	r, _ := LookupRegime("gdpr-33")
	deadline := r.Deadlines[0].Label
	if n := race(func() error {
		_, err := e.desk.RecordSubmission(ctx, paola, inc.ID, "gdpr-33", deadline, Submission{Channel: "pec", Reference: "GAR-1", SentSHA256: strings.Repeat("ab", 32)})
		return err
	}); n != 1 {
		t.Fatalf("%d concurrent identical submissions succeeded, want 1", n)
	}
}
