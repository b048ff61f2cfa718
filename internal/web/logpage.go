package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/tsa"
)

// logCheck is the console's own check of the evidence log: the latest
// checkpoint's signature, the tree root recomputed from the stored
// hashes, and consistency with the checkpoint of the previous check. It
// is not `vallum verify` (which re-reads every entry, offline); the page
// says so. It is safe for concurrent use.
type logCheck struct {
	l   *evidence.Log
	now func() time.Time

	mu   sync.Mutex
	last checkResult // guarded by mu
	prev *evidence.Checkpoint
}

// checkResult is one check's outcome.
type checkResult struct {
	At     time.Time
	Size   int64
	OK     bool
	Detail string
}

// run checks the log now and records the result.
func (lc *logCheck) run() checkResult {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	res := checkResult{At: lc.now(), OK: true}
	msg, _ := lc.l.Latest()
	if msg == nil {
		res.Detail = "empty"
		lc.last = res
		return res
	}
	fail := func(format string, args ...any) checkResult {
		res.OK, res.Detail = false, fmt.Sprintf(format, args...)
		lc.last = res
		return res
	}
	c, err := evidence.OpenCheckpoint(msg, lc.l.Origin(), lc.l.Verifier())
	if err != nil {
		return fail("checkpoint: %v", err)
	}
	res.Size = c.N
	root, err := tlog.TreeHash(c.N, lc.l)
	if err != nil {
		return fail("couldn't recompute the root of size %d: %v", c.N, err)
	}
	if root != c.Hash {
		return fail("the stored hashes give root %s at size %d, the signed checkpoint says %s", root, c.N, c.Hash)
	}
	if p := lc.prev; p != nil && p.N > 0 && p.N < c.N {
		proof, err := lc.l.ConsistencyProof(p.N, c.N)
		if err == nil {
			err = tlog.CheckTree(proof, c.N, c.Hash, p.N, p.Hash)
		}
		if err != nil {
			return fail("checkpoint %d is not consistent with checkpoint %d: %v", c.N, p.N, err)
		}
	}
	lc.prev = &c
	lc.last = res
	return res
}

func (lc *logCheck) latest() checkResult {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.last
}

// logState is the state of the evidence log on the Now and Log pages.
type logState struct {
	Size       int64
	Checkpoint string
	Root       string
	LastTime   time.Time
	Check      checkResult
	Anchor     *tsa.Anchor
	// AnchorsAvailable: the time-stamp part is in this build.
	AnchorsAvailable bool
	AnchorError      string
}

func (c *Console) logState(r *http.Request) logState {
	cp, n := c.srv.Log.Latest()
	st := logState{Size: n, Checkpoint: string(cp), Check: c.check.latest(), AnchorsAvailable: c.srv.Bundles != nil && c.srv.Bundles.Anchors != nil}
	if cp != nil {
		if ck, err := evidence.OpenCheckpoint(cp, c.srv.Log.Origin(), c.srv.Log.Verifier()); err == nil {
			st.Root = ck.Hash.String()
		}
	}
	if n > 0 {
		if e, err := c.srv.Log.Entry(n - 1); err == nil {
			if h, err := evidence.DecodeHeader(e.Header); err == nil {
				st.LastTime, _ = h.ParsedTime()
			}
		}
	}
	if st.AnchorsAvailable {
		as, err := c.srv.Bundles.Anchors.List(r.Context(), 0, 1)
		switch {
		case err != nil:
			c.log.Error("couldn't read the latest anchor", "err", err)
			st.AnchorError = translate("en", "err.internal")
		case len(as) > 0:
			st.Anchor = &as[0]
		}
	}
	return st
}

// logData is the Log page's data.
type logData struct {
	State    logState
	Entries  []store.IndexedEntry
	Incident string
	After    int64
	Next     int64
	Prev     int64
	HasPrev  bool
}

// logPageSize is how many entries the Log page shows at once.
const logPageSize = 50

func (c *Console) logPage(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	// Without from, the latest page: during an incident people look at
	// what just happened.
	latest := max(0, c.srv.Log.Size()-logPageSize)
	after, ok := formInt(q, "from", latest, 1<<62)
	if q.Get("incident") != "" && q.Get("from") == "" {
		after = 0
	}
	inc := q.Get("incident")
	if !ok || evidence.ValidIncident(inc) != nil {
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "from, incident")
		return
	}
	// from: the entries with index >= after.
	es, err := c.srv.DB.Entries(r.Context(), inc, after-1, logPageSize+1)
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	d := logData{State: c.logState(r), Incident: inc, After: after, Prev: max(0, after-logPageSize), HasPrev: after > 0}
	if len(es) > logPageSize {
		d.Next = es[logPageSize].Index
		es = es[:logPageSize]
	}
	d.Entries = es
	c.render(w, r, rq, http.StatusOK, "log", "log.title", d)
}

// entryData is the entry page's data.
type entryData struct {
	Index    int64
	Header   evidence.Header
	HeaderB  string // base64 of the exact header bytes (the leaf)
	RawHead  string
	LeafHash string
	Payload  string
	Erased   bool
	// Proof against the latest checkpoint, checked here on the server.
	TreeSize   int64
	Proof      []string
	Checkpoint string
	ServerOK   bool
	ServerErr  string
	VKey       string
}

func (c *Console) entryPage(w http.ResponseWriter, r *http.Request, rq *request) {
	i, ok := formInt(map[string][]string{"i": {r.PathValue("index")}}, "i", 0, 1<<62)
	if !ok {
		c.fail(w, r, rq, http.StatusBadRequest, "err.param", "index")
		return
	}
	e, err := c.srv.Log.Entry(i)
	if errors.Is(err, evidence.ErrNotFound) {
		c.fail(w, r, rq, http.StatusNotFound, "log.noentry", i)
		return
	}
	if err != nil {
		c.internal(w, r, rq, err)
		return
	}
	h, _ := evidence.DecodeHeader(e.Header)
	d := entryData{Index: i, Header: h, HeaderB: base64.StdEncoding.EncodeToString(e.Header), RawHead: string(e.Header),
		LeafHash: evidence.LeafHash(e.Header).String(), Erased: e.Erased, VKey: c.srv.VKey}
	if !e.Erased {
		var buf bytes.Buffer
		if json.Indent(&buf, e.Payload, "", "  ") == nil {
			d.Payload = buf.String()
		} else {
			d.Payload = string(e.Payload)
		}
	}
	cp, n := c.srv.Log.Latest()
	d.TreeSize, d.Checkpoint = n, string(cp)
	proof, _, err := c.srv.Log.InclusionProof(i, n)
	if err == nil {
		for _, h := range proof {
			d.Proof = append(d.Proof, h.String())
		}
		var ck evidence.Checkpoint
		if ck, err = evidence.OpenCheckpoint(cp, c.srv.Log.Origin(), c.srv.Log.Verifier()); err == nil {
			err = tlog.CheckRecord(proof, ck.N, ck.Hash, i, evidence.LeafHash(e.Header))
		}
	}
	d.ServerOK = err == nil
	if err != nil {
		d.ServerErr = err.Error()
	}
	c.render(w, r, rq, http.StatusOK, "entry", "entry.title", d, i)
}

// verifyLog runs the console's log check now.
func (c *Console) verifyLog(w http.ResponseWriter, r *http.Request, rq *request) {
	res := c.check.run()
	c.log.Info("console log check", "by", rq.p.Name, "ok", res.OK, "size", res.Size, "detail", res.Detail)
	back := safeNext(r.PostForm.Get("back"))
	http.Redirect(w, r, back, http.StatusSeeOther)
}
