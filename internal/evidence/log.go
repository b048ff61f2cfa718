package evidence

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Storage is the durable home of a log. The Log's sequencer is its only
// writer (Commit, Erase); any number of goroutines read concurrently.
type Storage interface {
	// Commit durably appends a batch: its entries, the stored hashes they
	// add and the checkpoint signed over the new tree. When Commit returns
	// nil all of it survives a crash. When it returns an error, none of the
	// batch is visible to readers, nor after a restart; if the storage
	// cannot guarantee that, the error wraps ErrBroken.
	Commit(b *Batch) error
	// State returns the committed size, the latest signed checkpoint (nil
	// for an empty log) and the indexes of erasure entries.
	State() (State, error)
	// ReadHashes returns the stored hashes at the given tlog indexes.
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
	// ReadEntry returns entry i, or an error wrapping ErrNotFound.
	ReadEntry(i int64) (Entry, error)
	// Checkpoint returns the signed checkpoint of tree size n, or an error
	// wrapping ErrNotFound if no checkpoint was signed at that size.
	Checkpoint(n int64) ([]byte, error)
	// CheckpointSizes returns the sizes of every signed checkpoint, in
	// increasing order.
	CheckpointSizes() []int64
	// Erase durably deletes the salt and payload bytes of entry i, keeping
	// its header. Erasing an erased entry is a no-op.
	Erase(i int64) error
}

// State is a Storage's committed state.
type State struct {
	Size       int64
	Checkpoint []byte
	// Erasures lists the indexes of "erasure" entries, for completing an
	// erasure interrupted by a crash.
	Erasures []int64
}

// Batch is a group of entries committed together with one checkpoint.
type Batch struct {
	// Start is the index of the first entry.
	Start    int64
	Headers  [][]byte
	Salts    [][]byte
	Payloads [][]byte
	// Hashes are the stored hashes added by the batch, from tlog index
	// StoredHashCount(Start) on.
	Hashes []tlog.Hash
	// Checkpoint is the signed checkpoint of size Start+len(Headers).
	Checkpoint []byte
}

// Errors returned by the log.
var (
	ErrNotFound = errors.New("not found")
	// ErrBroken means storage may hold a partial batch; the log refuses
	// appends until it is reopened (which discards the partial batch).
	ErrBroken = errors.New("evidence log storage is in an unknown state")
	ErrClosed = errors.New("evidence log is closed")
	// ErrInvalid is wrapped by errors caused by the caller's input.
	ErrInvalid = errors.New("invalid entry")
)

// Config configures a Log.
type Config struct {
	// Origin is the checkpoint origin line, unique to this log.
	Origin string
	// Signer signs checkpoints (note.NewSigner of the log key).
	Signer note.Signer
	// Verifier is the public key of Signer.
	Verifier note.Verifier
	// Storage is where the log lives.
	Storage Storage
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time
	// MaxBatch bounds the entries of one batch (default 4096).
	MaxBatch int
	// MaxPayload bounds a payload in bytes (default 1 MiB).
	MaxPayload int
	// Logger receives operational messages; slog.Default if nil.
	Logger *slog.Logger
}

// Record is what a caller appends.
type Record struct {
	Kind     string
	Actor    string
	Incident string
	// Payload is a JSON document.
	Payload []byte
}

// Log is an evidence log. It is safe for concurrent use. Appends are
// sequenced by one goroutine (the sequencer), which owns the tree state and
// is the only caller of Storage.Commit and Storage.Erase; appenders wait for
// the batch holding their entry to be durable and covered by a signed
// checkpoint.
type Log struct {
	cfg   Config
	queue chan *pending
	stop  chan struct{}
	done  chan struct{}

	closeMu sync.RWMutex // held for reading while queueing; Close takes it to close
	closed  bool         // guarded by closeMu

	mu      sync.RWMutex // guards the fields below; written by the sequencer
	size    int64
	latest  []byte // latest signed checkpoint
	root    tlog.Hash
	broken  error
	changed chan struct{} // closed and replaced at every commit

	built   chan *built   // sequencer -> committer
	ready   chan struct{} // committer -> sequencer: idle, send a batch
	seqDone chan struct{} // closed when the sequencer exits
	resync  atomic.Bool   // set by the committer after a failed commit

	// sequencer-owned
	next     int64  // size of the tree after the batches built so far
	gen      uint64 // bumped at every resynchronisation
	lastTime time.Time
	// frontier caches the stored hashes of the complete subtrees on the
	// tree's right edge: all that appending and TreeHash need to read.
	frontier map[int64]tlog.Hash
}

type pending struct {
	rec  Record
	salt []byte
	// head and tail are the encoded header before and after the time,
	// which the sequencer fills in.
	head, tail []byte
	erase      int64 // for erasure entries: the target, or -1
	receipt    Receipt
	err        error
	done       chan struct{}
}

// Open starts a log on cfg.Storage. It checks that the stored tree matches
// the latest signed checkpoint before accepting appends, and completes any
// erasure interrupted by a crash.
func Open(cfg Config) (*Log, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Origin == "" || cfg.Signer == nil || cfg.Verifier == nil || cfg.Storage == nil {
		return nil, errors.New("evidence log config needs an origin, a signer, a verifier and storage")
	}
	st, err := cfg.Storage.State()
	if err != nil {
		return nil, fmt.Errorf("couldn't read log state: %w", err)
	}
	l := &Log{
		cfg:     cfg,
		queue:   make(chan *pending, cfg.MaxBatch),
		stop:    make(chan struct{}),
		built:   make(chan *built),
		ready:   make(chan struct{}),
		seqDone: make(chan struct{}),
		next:    st.Size,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		size:    st.Size,
	}
	if st.Size > 0 || st.Checkpoint != nil {
		c, err := OpenCheckpoint(st.Checkpoint, cfg.Origin, cfg.Verifier)
		if err != nil {
			return nil, fmt.Errorf("latest checkpoint: %w", err)
		}
		if c.N != st.Size {
			return nil, fmt.Errorf("latest checkpoint has size %d, storage holds %d entries", c.N, st.Size)
		}
		root, err := tlog.TreeHash(st.Size, cfg.Storage)
		if err != nil {
			return nil, fmt.Errorf("couldn't compute tree hash: %w", err)
		}
		if root != c.Hash {
			return nil, fmt.Errorf("stored hashes give root %s at size %d, the latest signed checkpoint says %s: run 'vallum verify'", root, st.Size, c.Hash)
		}
		l.latest, l.root = st.Checkpoint, root
		if l.frontier, err = frontier(st.Size, cfg.Storage); err != nil {
			return nil, fmt.Errorf("couldn't read the tree's right edge: %w", err)
		}
		last, err := cfg.Storage.ReadEntry(st.Size - 1)
		if err != nil {
			return nil, fmt.Errorf("couldn't read last entry: %w", err)
		}
		h, err := DecodeHeader(last.Header)
		if err != nil {
			return nil, fmt.Errorf("last entry: %w", err)
		}
		l.lastTime, _ = h.ParsedTime()
	}
	if err := l.completeErasures(st.Erasures); err != nil {
		return nil, err
	}
	go l.sequence()
	go l.commit()
	return l, nil
}

// Close stops the sequencer after failing queued appends that were not yet
// taken, and waits for the batch in flight.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.closeMu.Unlock()
	<-l.done
	return nil
}

// Append adds rec to the log. It returns only once the entry is durable and
// covered by a signed checkpoint.
// The "erasure" kind is reserved to Erase: an erasure entry makes the
// server delete a payload, so no caller may write one directly.
func (l *Log) Append(ctx context.Context, rec Record) (Receipt, error) {
	if rec.Kind == ErasureKind {
		return Receipt{}, fmt.Errorf("%w: kind %q is written only by an erasure (Log.Erase)", ErrInvalid, ErasureKind)
	}
	return l.append(ctx, rec, -1)
}

// Appended is the outcome of one record given to AppendBatch: its receipt,
// or why it is not in the log.
type Appended struct {
	Receipt Receipt
	Err     error
}

// AppendBatch adds recs to the log in their order, as Append would one
// after another, and returns one outcome per record once every record's
// outcome is final: a record with a nil Err is durable and covered by a
// signed checkpoint. Other appends may be sequenced between the records.
// A record the log refuses (ErrInvalid) does not stop the others. When
// ctx ends before a record is queued, it and the records after it fail
// with ctx's error; records already queued are waited for, so that a
// receipt is never lost for a durable entry.
//
// It costs the caller one wait for the whole batch instead of one per
// record, which is what lets intake keep up with a sensor's event rate.
func (l *Log) AppendBatch(ctx context.Context, recs []Record) []Appended {
	out := make([]Appended, len(recs))
	ps := make([]pending, len(recs))
	salts := make([]byte, len(recs)*SaltSize)
	rand.Read(salts)
	l.closeMu.RLock()
	for i, rec := range recs {
		if rec.Kind == ErasureKind {
			out[i].Err = fmt.Errorf("%w: kind %q is written only by an erasure (Log.Erase)", ErrInvalid, ErasureKind)
			continue
		}
		if err := l.checkRecord(rec); err != nil {
			out[i].Err = err
			continue
		}
		if l.closed {
			out[i].Err = ErrClosed
			continue
		}
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		p := &ps[i]
		*p = pending{rec: rec, erase: -1, done: make(chan struct{}), salt: salts[i*SaltSize : (i+1)*SaltSize : (i+1)*SaltSize]}
		p.head, p.tail = headerParts(rec, Commit(p.salt, rec.Payload))
		select {
		case l.queue <- p:
		case <-ctx.Done():
			out[i].Err = ctx.Err()
			p.done = nil
		}
	}
	l.closeMu.RUnlock()
	for i := range ps {
		if p := &ps[i]; p.done != nil {
			<-p.done
			out[i] = Appended{Receipt: p.receipt, Err: p.err}
		}
	}
	return out
}

func (l *Log) append(ctx context.Context, rec Record, erase int64) (Receipt, error) {
	if err := l.checkRecord(rec); err != nil {
		return Receipt{}, err
	}
	p := &pending{rec: rec, erase: erase, done: make(chan struct{})}
	p.salt = make([]byte, SaltSize)
	rand.Read(p.salt)
	p.head, p.tail = headerParts(rec, Commit(p.salt, rec.Payload))
	// closeMu orders sends with Close: once Close holds it, no append can
	// slip into the queue after the sequencer's last look at it.
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return Receipt{}, ErrClosed
	}
	select {
	case l.queue <- p:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return Receipt{}, ctx.Err()
	}
	// Once queued the entry may become durable; wait for the outcome even
	// if ctx ends, so that a receipt is never lost for a durable entry.
	<-p.done
	return p.receipt, p.err
}

func (l *Log) checkRecord(rec Record) error {
	if err := ValidKind(rec.Kind); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := ValidActor(rec.Actor); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := ValidIncident(rec.Incident); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(rec.Payload) > l.cfg.MaxPayload {
		return fmt.Errorf("%w: payload is %d bytes, the limit is %d", ErrInvalid, len(rec.Payload), l.cfg.MaxPayload)
	}
	if !utf8.Valid(rec.Payload) {
		return fmt.Errorf("%w: payload is not valid UTF-8", ErrInvalid)
	}
	if !json.Valid(rec.Payload) {
		return fmt.Errorf("%w: payload is not a valid JSON document", ErrInvalid)
	}
	return nil
}

// sequence is the sequencer goroutine: when the committer is idle it
// takes every queued append, builds them into one batch (indexes, headers,
// stored hashes, a signed checkpoint) and hands the batch over. While the
// committer makes a batch durable, appends queue up for the next one.
func (l *Log) sequence() {
	defer close(l.seqDone)
	lastBatch := 1
	gather := time.NewTimer(gatherWait)
	gather.Stop()
	for {
		batch := make([]*pending, 0, 64)
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case <-l.stop:
			l.drain(ErrClosed)
			return
		}
		// Wait for the committer to be idle, so the batch takes every
		// append that arrived meanwhile: one fdatasync for all of them.
		<-l.ready
		// Appenders answered by the last batch come back over a fraction
		// of a millisecond; wait briefly for as many as the last batch
		// held, so they share one fdatasync instead of trickling into
		// several. A lone appender (last batch of one) never waits.
		gather.Reset(gatherWait)
	gathering:
		for len(batch) < min(lastBatch, l.cfg.MaxBatch) {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			case <-gather.C:
				break gathering
			}
		}
		gather.Stop()
	fill:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		lastBatch = len(batch)
		var bt *built
		err := error(nil)
		if l.resync.Load() {
			err = l.resynchronise()
		}
		if err == nil {
			bt, err = l.build(batch)
		}
		if err != nil {
			failAll(batch, err)
			bt = nil
		}
		l.built <- bt // exactly one send per ready, nil when nothing to commit
	}
}

func failAll(batch []*pending, err error) {
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
}

func (l *Log) drain(err error) {
	for {
		select {
		case p := <-l.queue:
			p.err = err
			close(p.done)
		default:
			return
		}
	}
}

// gatherWait bounds how long the sequencer waits for a batch to fill.
const gatherWait = time.Millisecond

// built is a batch ready to commit, with the sequencer state after it.
type built struct {
	batch    []*pending
	b        *Batch
	root     tlog.Hash
	gen      uint64
	lastTime time.Time
}

// build sequences a batch after the sequencer's current tree: it assigns
// indexes, completes the headers with the time, computes the stored hashes
// and signs the checkpoint of the new tree.
func (l *Log) build(batch []*pending) (*built, error) {
	start := l.next
	now := l.cfg.Clock().UTC()
	if now.Before(l.lastTime) {
		now = l.lastTime // entry times never go backwards
	}
	stamp := now.Format(TimeFormat)
	b := &Batch{Start: start, Headers: make([][]byte, len(batch)), Salts: make([][]byte, len(batch)), Payloads: make([][]byte, len(batch))}
	r := &batchHashes{base: tlog.StoredHashCount(start), frontier: l.frontier, storage: l.cfg.Storage}
	for i, p := range batch {
		h := make([]byte, 0, len(p.head)+len(stamp)+len(p.tail))
		h = append(append(append(h, p.head...), stamp...), p.tail...)
		n := start + int64(i)
		leaf := LeafHash(h)
		hashes, err := tlog.StoredHashesForRecordHash(n, leaf, r)
		if err != nil {
			return nil, fmt.Errorf("couldn't compute stored hashes: %w", err)
		}
		r.pending = append(r.pending, hashes...)
		b.Headers[i], b.Salts[i], b.Payloads[i] = h, p.salt, p.rec.Payload
		p.receipt = Receipt{Index: n, LeafHash: leaf, Time: stamp}
	}
	b.Hashes = r.pending
	size := start + int64(len(batch))
	root, err := tlog.TreeHash(size, r)
	if err != nil {
		return nil, fmt.Errorf("couldn't compute tree hash: %w", err)
	}
	b.Checkpoint, err = SignCheckpoint(Checkpoint{Origin: l.cfg.Origin, Tree: tlog.Tree{N: size, Hash: root}}, l.cfg.Signer)
	if err != nil {
		return nil, err
	}
	f, err := frontier(size, r)
	if err != nil {
		return nil, fmt.Errorf("couldn't compute the tree's right edge: %w", err)
	}
	l.next, l.frontier, l.lastTime = size, f, now
	return &built{batch: batch, b: b, root: root, gen: l.gen, lastTime: now}, nil
}

// resynchronise resets the sequencer to the committed tree after a failed
// commit, so that batches built on the failed one are never committed.
func (l *Log) resynchronise() error {
	l.mu.RLock()
	size, broken := l.size, l.broken
	l.mu.RUnlock()
	if broken != nil {
		return broken
	}
	f, err := frontier(size, l.cfg.Storage)
	if err != nil {
		return fmt.Errorf("couldn't reread the tree's right edge: %w", err)
	}
	l.next, l.frontier = size, f
	l.gen++
	l.resync.Store(false)
	return nil
}

// commit is the committer goroutine: it makes each built batch durable
// and answers its appenders. After a failed commit it fails every batch
// built on top of the failed one and asks the sequencer to resynchronise.
func (l *Log) commit() {
	defer close(l.done)
	var failedGen uint64
	failed := false
	for {
		select {
		case l.ready <- struct{}{}:
		case <-l.seqDone:
			return
		}
		bt := <-l.built
		if bt == nil {
			continue
		}
		if failed && bt.gen == failedGen {
			failAll(bt.batch, fmt.Errorf("couldn't commit: an earlier batch failed"))
			continue
		}
		failed = false
		l.mu.RLock()
		broken := l.broken
		l.mu.RUnlock()
		if broken != nil {
			failAll(bt.batch, broken)
			continue
		}
		b := bt.b
		if err := l.cfg.Storage.Commit(b); err != nil {
			err = fmt.Errorf("couldn't commit %d entries at index %d: %w", len(b.Headers), b.Start, err)
			l.cfg.Logger.Error("evidence log commit failed", "start", b.Start, "entries", len(b.Headers), "err", err)
			if errors.Is(err, ErrBroken) {
				l.mu.Lock()
				l.broken = err
				l.mu.Unlock()
			}
			failed, failedGen = true, bt.gen
			l.resync.Store(true)
			failAll(bt.batch, err)
			continue
		}
		size := b.Start + int64(len(b.Headers))
		l.mu.Lock()
		l.size, l.latest, l.root = size, b.Checkpoint, bt.root
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
		for _, p := range bt.batch {
			p.receipt.TreeSize = size
			if p.erase >= 0 {
				if err := l.cfg.Storage.Erase(p.erase); err != nil {
					p.err = fmt.Errorf("erasure entry %d is logged but erasing entry %d's payload failed (it is retried at the next start): %w", p.receipt.Index, p.erase, err)
				}
			}
			close(p.done)
		}
	}
}

// batchHashes reads stored hashes from the batch being built, the
// frontier cache and, failing those, storage. Only the sequencer uses it.
type batchHashes struct {
	base     int64
	pending  []tlog.Hash
	frontier map[int64]tlog.Hash
	storage  Storage
}

func (r *batchHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var old []int64
	for i, x := range indexes {
		if x >= r.base {
			if x-r.base >= int64(len(r.pending)) {
				return nil, fmt.Errorf("stored hash %d not yet computed", x)
			}
			out[i] = r.pending[x-r.base]
		} else if h, ok := r.frontier[x]; ok {
			out[i] = h
		} else {
			old = append(old, x)
		}
	}
	if len(old) == 0 {
		return out, nil
	}
	got, err := r.storage.ReadHashes(old)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, x := range indexes {
		if _, ok := r.frontier[x]; x < r.base && !ok {
			out[i] = got[j]
			j++
		}
	}
	return out, nil
}

// frontier returns the stored hashes of the complete subtrees on the right
// edge of the tree of size n.
func frontier(n int64, r tlog.HashReader) (map[int64]tlog.Hash, error) {
	var idx []int64
	for level := 0; level < 63 && n>>level > 0; level++ {
		if (n>>level)&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]tlog.Hash, len(idx))
	for i, x := range idx {
		m[x] = hs[i]
	}
	return m, nil
}

// headerParts returns the canonical header of rec with commitment c, split
// around the time value, which the sequencer fills in. Appenders call it
// concurrently, so the sequencer's share of the work stays small.
func headerParts(rec Record, c string) (head, tail []byte) {
	head = append(strconv.AppendInt(append(make([]byte, 0, 64), `{"v":`...), HeaderVersion, 10), `,"kind":`...)
	head = append(appendJSONString(head, rec.Kind), `,"time":"`...)
	tail = append(tail, `","actor":`...)
	tail = appendJSONString(tail, rec.Actor)
	tail = append(tail, `,"incident":`...)
	tail = appendJSONString(tail, rec.Incident)
	tail = append(tail, `,"commitment":`...)
	tail = append(appendJSONString(tail, c), '}')
	return head, tail
}

// Size returns the number of committed entries.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Latest returns the latest signed checkpoint (nil for an empty log) and
// its size.
func (l *Log) Latest() ([]byte, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.latest, l.size
}

// Changed returns a channel closed at the next commit.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Origin returns the checkpoint origin.
func (l *Log) Origin() string { return l.cfg.Origin }

// Verifier returns the checkpoint verifier.
func (l *Log) Verifier() note.Verifier { return l.cfg.Verifier }

// Storage returns the log's storage, for readers.
func (l *Log) Storage() Storage { return l.cfg.Storage }

// Entry returns entry i.
func (l *Log) Entry(i int64) (Entry, error) {
	if i < 0 || i >= l.Size() {
		return Entry{}, fmt.Errorf("entry %d: %w", i, ErrNotFound)
	}
	return l.cfg.Storage.ReadEntry(i)
}

// ReadHashes implements tlog.HashReader over committed hashes.
func (l *Log) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return l.cfg.Storage.ReadHashes(indexes)
}

// Checkpoint returns the signed checkpoint of size n.
func (l *Log) Checkpoint(n int64) ([]byte, error) {
	if n > l.Size() {
		return nil, fmt.Errorf("checkpoint of size %d: %w", n, ErrNotFound)
	}
	return l.cfg.Storage.Checkpoint(n)
}

// ErasureRequest is the payload of an "erasure" entry.
type ErasureRequest struct {
	// Index is the entry whose payload is erased.
	Index int64 `json:"index"`
	// Reason says why (e.g. "GDPR art. 17 request 2026-114", "retention").
	Reason string `json:"reason"`
}

// ErasureKind is the kind of the entry that records an erasure.
const ErasureKind = "erasure"

// Erase erases the payload of entry i: it first appends an "erasure" entry
// naming i and the reason, then deletes the payload bytes. The tree and
// every proof stay valid. Erasure entries themselves cannot be erased.
func (l *Log) Erase(ctx context.Context, i int64, reason, actor string) (Receipt, error) {
	if reason == "" {
		return Receipt{}, fmt.Errorf("%w: an erasure needs a reason", ErrInvalid)
	}
	e, err := l.Entry(i)
	if err != nil {
		return Receipt{}, err
	}
	h, err := DecodeHeader(e.Header)
	if err != nil {
		return Receipt{}, fmt.Errorf("entry %d: %w", i, err)
	}
	if h.Kind == ErasureKind {
		return Receipt{}, fmt.Errorf("%w: entry %d records an erasure and cannot be erased", ErrInvalid, i)
	}
	if e.Erased {
		return Receipt{}, fmt.Errorf("%w: entry %d is already erased", ErrInvalid, i)
	}
	payload, err := json.Marshal(ErasureRequest{Index: i, Reason: reason})
	if err != nil {
		return Receipt{}, err
	}
	return l.append(ctx, Record{Kind: ErasureKind, Actor: actor, Incident: h.Incident, Payload: payload}, i)
}

// completeErasures erases the targets of logged erasure entries whose
// payload is still present (a crash between logging and erasing).
func (l *Log) completeErasures(idx []int64) error {
	for _, i := range idx {
		e, err := l.cfg.Storage.ReadEntry(i)
		if err != nil {
			return fmt.Errorf("erasure entry %d: %w", i, err)
		}
		if e.Erased {
			continue
		}
		var req ErasureRequest
		if err := json.Unmarshal(e.Payload, &req); err != nil || req.Index < 0 || req.Index >= i {
			return fmt.Errorf("erasure entry %d has a malformed payload", i)
		}
		t, err := l.cfg.Storage.ReadEntry(req.Index)
		if err != nil {
			return fmt.Errorf("erasure target %d: %w", req.Index, err)
		}
		if !t.Erased {
			l.cfg.Logger.Info("completing interrupted erasure", "index", req.Index, "erasure_entry", i)
			if err := l.cfg.Storage.Erase(req.Index); err != nil {
				return fmt.Errorf("couldn't complete erasure of entry %d: %w", req.Index, err)
			}
		}
	}
	return nil
}
