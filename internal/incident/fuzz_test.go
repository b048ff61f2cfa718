package incident

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

var fuzzKinds = []string{KindCreated, KindUpdated, KindNote, KindObservable, KindEventLink, KindAcquired, KindCustody,
	KindProposed, KindDecided, KindRechecked, KindApproved, KindExecuting, KindExecuted, KindFailed, KindVerified, KindExpired, KindReverted}

// FuzzApply feeds arbitrary payloads of every kind, as read back from a
// log, to the decoder and to apply: neither may panic, and apply may fail
// only on a database error (an unreadable payload becomes a marked row).
func FuzzApply(f *testing.F) {
	seeds := []string{
		`{"id":"INC-1","title":"t","description":"","severity":"high","categories":["x"],"assignees":[]}`,
		`{"id":"INC-1","status":"closed","categories":null}`,
		`{"id":"INC-1","type":"ip","value":"192.0.2.1","tags":["c2"],"seen":"2026-11-28T10:00:00.000000000Z"}`,
		`{"id":"INC-1","events":[{"index":3,"kind":"sensor.event","time":"2026-11-28T10:00:00.000000000Z"}]}`,
		`{"evidence":"EVD-1","step":"copied","sha256":"ab","copy":"EVD-2"}`,
		`{"action":"ACT-1","request":{"action":{"kind":"firewall_block","target":"192.0.2.1","params":{}}}}`,
		`{"action":"ACT-1","decision":{"index":1,"leaf_hash":"x"},"verdict":"conditional","missing":["approval:dpo"],"requires":["dpo"]}`,
		`{"action":"ACT-1","role":"dpo"}`,
		`{"action":"ACT-1","result":{"executor":"manual","summary":"s"},"error":"e"}`,
		`{"action":"ACT-1","executor":"manual","permit":{"decision":{"index":1,"leaf_hash":"x"},"approvals":[]}}`,
		`{}`, `null`, `[]`, `{"id":1}`, `{"id":"a"} {}`,
	}
	for k := range fuzzKinds {
		for _, s := range seeds {
			f.Add(uint8(k), []byte(s))
		}
	}
	db, err := store.OpenSQLite(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background(), "incident", migrations); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, k uint8, payload []byte) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		decodePayload(kind, payload)
		ctx := context.Background()
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		h := evidence.Header{V: 1, Kind: kind, Time: "2026-11-28T10:00:00.000000000Z", Actor: "fuzz", Incident: "INC-1"}
		if err := apply(ctx, tx, 7, "leaf", h, payload); err != nil {
			t.Fatalf("apply %s %q: %v", kind, payload, err)
		}
	})
}
