package boltstore

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

var _ session.Store = (*Store)(nil)

// Store is a session.Store in a bbolt file. Its methods are safe for
// concurrent use.
type Store struct {
	db *bolt.DB
	// subs indexes every subscription by filter for Match; it has its own
	// lock. Writes to it happen only while holding subsMu.
	subs *topic.Index[session.Subscription]
	// subsMu serialises the writes that change subscriptions or session
	// records, from the start of their transaction to the end of their
	// index and cache updates.
	subsMu sync.Mutex
	batch  bool
	group  *group // set by WithGroupCommit
	// sessions caches every session, decoded and without its will (see
	// wills.go), for Session and Sessions (cache.go); sessMu guards it. It
	// is loaded at Open and, since the store is the file's only user,
	// stays equal to the committed session records: every write that
	// changes a session record (Connect, SetOffline, DeleteSession,
	// ClearWill) holds subsMu from the start of its transaction to the end
	// of its cache update, so the cache changes in commit order. Entries
	// are never modified in place, only replaced; readers get copies.
	sessMu   sync.RWMutex
	sessions map[string]*cacheEntry
	// streamRetention is how long stream entries are kept at least
	// (WithStreamRetention); 0 for as long as their message lives.
	streamRetention time.Duration
	// pidLimit bounds the packet ids the queues assign (LimitPacketIDs;
	// 0 for 65535). Set before the store serves, read by every Dispatch.
	pidLimit atomic.Uint32
}

var _ session.PacketIDLimiter = (*Store)(nil)

// LimitPacketIDs implements session.PacketIDLimiter: the queues assign
// packet ids 1..max, delivery v2's streams the ones above.
func (st *Store) LimitPacketIDs(max uint16) { st.pidLimit.Store(uint32(max)) }

// pidMax is the highest packet id the queues assign.
func (st *Store) pidMax() uint16 {
	if m := st.pidLimit.Load(); m != 0 {
		return uint16(m)
	}
	return 65535
}

// Option configures Open.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	noSync      bool
	batch       bool
	batchDelay  time.Duration
	group       bool
	mode        os.FileMode
	// streamRetention: see WithStreamRetention (streams.go).
	streamRetention time.Duration
}

// WithLockTimeout sets how long Open waits for the file lock another
// process (or another open Store) holds; 0 waits forever. The default is 5
// seconds.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithNoSync skips the fsync after each commit. A crash of the machine (not
// just of the process) may then lose or corrupt what was written: use it
// for tests and benchmarks only.
func WithNoSync() Option { return func(o *options) { o.noSync = true } }

// WithBatch makes the outbound and inbound writes (Enqueue, Dispatch,
// Acknowledge, Release, Complete, Receive, MarkFannedOut, Forget and
// SetRetained) share transactions and fsyncs with concurrent ones, through
// bbolt's DB.Batch. That raises throughput with many busy clients, at the
// price of up to maxDelay of latency on each of those calls and of
// rerunning a whole batch whenever one of its calls fails (ErrNotFound
// included). 0 keeps bbolt's default delay (10ms).
func WithBatch(maxDelay time.Duration) Option {
	return func(o *options) { o.batch, o.batchDelay = true, maxDelay }
}

// WithGroupCommit makes the same writes as WithBatch, and those that change
// sessions and subscriptions (Connect, SetOffline, DeleteSession,
// ClearWill, Subscribe, Unsubscribe), share transactions and fsyncs with
// concurrent ones, without a delay: a write that finds no
// commit in progress starts one at once, and the writes that arrive while
// a commit is in progress all go into the next one. A lone write thus costs
// one commit, as without batching, while concurrent ones share commits as
// with WithBatch. As with WithBatch, a failing call (ErrNotFound included)
// makes its group run again without it. It takes precedence over
// WithBatch. The writes of sessions that end with their connection return
// before their commit (see "Durability of ending sessions").
func WithGroupCommit() Option { return func(o *options) { o.group = true } }

// WithFileMode sets the permissions of a new file; the default is 0600.
func WithFileMode(m os.FileMode) Option { return func(o *options) { o.mode = m } }

// Open opens the store in the file at path, creating it if need be, and
// loads the subscription index.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: 5 * time.Second, mode: 0o600}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := bolt.Open(path, o.mode, &bolt.Options{Timeout: o.lockTimeout, NoSync: o.noSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if o.batchDelay > 0 {
		db.MaxBatchDelay = o.batchDelay
	}
	st := &Store{db: db, subs: topic.NewIndex[session.Subscription](), batch: o.batch,
		sessions: map[string]*cacheEntry{}, streamRetention: o.streamRetention}
	if o.group {
		st.group = &group{db: db, writeMu: &st.subsMu}
	}
	if err := st.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return st, nil
}

// init creates the buckets, checks the layout version and loads the
// subscription index and the session cache.
func (st *Store) init() error {
	err := st.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bMeta, bSessions, bRetained, bDue, bWills, bLeases, bStreams} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		switch v := meta.Get(kFormat); {
		case v == nil:
			if err := meta.Put(kFormat, []byte(format)); err != nil {
				return err
			}
		case string(v) != format:
			return fmt.Errorf("layout version %q, want %q", v, format)
		}
		if err := initSessionCounts(tx); err != nil {
			return err
		}
		if err := initRetainedBy(tx); err != nil {
			return err
		}
		if err := initQueuedBytes(tx); err != nil {
			return err
		}
		return initRetainedTotals(tx)
	})
	if err != nil {
		return err
	}
	return st.db.View(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bSessions)
		return sessions.ForEachBucket(func(id []byte) error {
			cb := sessions.Bucket(id)
			clientID := string(id)
			s, err := getSessionHead(cb)
			if err != nil {
				return fmt.Errorf("session %q: %w", clientID, err)
			}
			e := newCacheEntry(s)
			e.will = e.will || hasWill(tx, id)
			st.sessions[clientID] = e
			u := cb.Bucket(bSubs)
			if u == nil {
				return nil
			}
			return u.ForEach(func(k, v []byte) error {
				var s session.Subscription
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("subscription %q of %q: %w", k, clientID, err)
				}
				st.subs.Add(string(k), clientID, s)
				return nil
			})
		})
	})
}

// Close closes the file. The Store is unusable afterwards.
func (st *Store) Close() error {
	if err := st.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// wrap adds context to an error from a transaction.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("boltstore: "+format+": %w", append(args, err)...)
}

// errNoSession is the error for a session that does not exist.
func errNoSession(clientID string) error {
	return fmt.Errorf("session %q: %w", clientID, session.ErrNotFound)
}

// errFenced is the error for a write by a connection not owning the session.
func errFenced(clientID, conn string) error {
	return fmt.Errorf("session %q, connection %q: %w", clientID, conn, session.ErrFenced)
}
