// Package boltstore is a session.Store kept in one file on local disk, on
// bbolt, for a broker that runs on one machine and must not lose its
// sessions when it restarts.
//
// # Atomicity and durability
//
// Every Store method runs in one bbolt transaction, so each is atomic, and
// a fenced write checks the owning connection inside the read-write
// transaction that makes it. bbolt syncs the file to disk before a
// read-write transaction returns, so nothing a method reported done is lost
// in a crash (WithNoSync trades that away, for tests). Read-write
// transactions are serialised by bbolt; reads run concurrently with them
// and with each other. WithBatch lets concurrent outbound writes share a
// transaction and its fsync; their transaction functions reset their
// results when they start, so bbolt may rerun them, and each call's
// changes still commit all together or not at all.
//
// # Durability of ending sessions
//
// With WithGroupCommit, some writes return before the commit that makes
// them durable, once their change is made and visible to every later call
// (in the session cache and the subscription index at once; the reads
// served by read-only transactions wait for the commit): those of a
// session that ends with its connection and has no will (Session Expiry
// Interval 0, no will; see ending), namely Connect creating such a
// session, Subscribe and Unsubscribe on one, and DeleteSession by its
// connection, and the outbound writes (Enqueue, Dispatch, Acknowledge,
// Release, Complete) of such a session: their messages go when it ends.
// A crash can lose such a write, but the session ends at the
// crash anyway and owes nothing: a lost Connect leaves no session, which is
// what its end leaves too; a lost DeleteSession leaves the session online,
// and Recover at start-up ends it (there is no will to publish); lost
// subscriptions belong to such a session. The commit still comes in order
// with every other write, so a write that returned after its commit (every
// other write) is durable with everything that came before it. Writes
// that must survive a crash (a session with an expiry or a will and its
// messages, every QoS 2 receive state, retained messages, anything that
// clears or changes an existing session on Connect) wait for their
// commit. A publisher's PUBACK thus waits for the commit of the messages
// it queued for durable sessions only.
//
// Delivery v2's Append (streams.go) is such a durable write, always: the
// message is committed before Append returns, whoever subscribes, so that
// the PUBACK that follows it says the message is kept. Under
// WithGroupCommit (or WithBatch) concurrent Appends share a commit and
// its fsync, which is what makes a published QoS 1 message cost a share
// of one commit rather than a commit per delivery (BenchmarkAppend and
// BenchmarkAppendParallel). SavePositions is an outbound write like
// Acknowledge: it may return before its commit for a session that ends
// with its connection.
//
// AppendBatchShown returns after its commit as AppendBatch does, but
// shows its offsets before it: once every function of its group has run
// (group.commit), so that the handlers hand QoS 1 entries to the
// subscribers' windows while the commit is under way
// (session.WithEarlyDelivery). A group that shows anything is broken for
// good when its commit fails, as one with early writes is: no offset
// shown is given to another entry while the process runs; after a crash,
// the offsets of the lost group go to later entries, which no saved
// position has passed (a position save commits after what its
// connection was shown).
//
// # Layout
//
// The file holds these buckets:
//
//	meta                       "format" → "1", "retained" → retained
//	                           totals (JSON)
//	sessions                   one nested bucket per client id:
//	  <client id>
//	    "s"                    the session (JSON)
//	    "n"                    counters, 26 bytes big-endian: last Seq (8),
//	                           last packet id (2), queued (4), in flight (4),
//	                           queued bytes (8, Message.Size summed)
//	    q/ <Seq, 8 bytes BE>   queued outbound messages (records)
//	    f/ <Seq, 8 bytes BE>   in-flight outbound messages (records)
//	    p/ <packet id, 2 BE>   Seq of the in-flight message using it
//	    i/ <packet id, 2 BE>   QoS 2 receive state (records)
//	    u/ <filter>            subscriptions (JSON)
//	    pos/ <filter>\0<shard, 4 BE>
//	                           delivery v2 positions on the filter's
//	                           sub-streams: number (4 BE), acked (8 BE),
//	                           released offsets (8 BE each)
//	retained  <topic>          retained messages (JSON)
//	due       <time, 8 BE><client id>
//	                           offline sessions by pending will (WillAt)
//	                           and expiry (ExpiresAt), for Due
//	wills                      <client id> → the session's will (a record,
//	                           see records.go), read only when needed
//	sessionCounts              "n" → sessions, "i/<identity>" → those of
//	                           the identity (8 bytes BE), for
//	                           session.SessionQuota (sessionquota.go)
//	retainedBy                 "i/<identity>" → retained totals (JSON) of
//	                           the messages recorded with the identity
//	                           (retainedby.go)
//	leases    <proxy>          the proxy's lease (JSON, leases.go)
//	streams                    delivery v2: one nested bucket per
//	                           sub-stream (streams.go):
//	  <filter>\0<shard, 4 BE>  its bucket sequence is the head (last
//	                           offset given); entries are
//	    <offset, 8 BE>         stream records of the message and its
//	                           append time (binary, streamrecord.go)
//
// Values are the session types' JSON encodings, but for those that carry a
// message (q, f, i, wills), which are records: a JSON header and the raw
// payload (records.go), and stream entries, which are stream records, a
// binary form without JSON (streamrecord.go); a file written before
// records holds JSON there, and one written before stream records holds
// records in the streams, which are read as well. Seq keys keep each session's messages in order;
// since Dispatch moves the oldest queued messages first, every in-flight
// message is older than every queued one. Deleting a session deletes its
// bucket with everything in it, and its will.
//
// Stream offsets come from the bucket's sequence (NextSequence), which is
// part of the transaction: a group that runs again, or a transaction that
// fails, gives its offsets back, so offsets are dense and start at 1. A
// zero byte separates filter and shard in stream and position keys, as no
// filter holds U+0000, so a filter's positions are one key range. Positions
// belong to subscriptions: SavePositions writes only those of subscribed
// filters, Subscribe of a new subscription and Unsubscribe delete the
// filter's range, a Connect that clears the session deletes pos, and
// DeleteSession the session bucket.
//
// Stream entries are removed from the front of their sub-stream only, so
// each holds the offsets from its oldest entry to its head, with no hole:
// an entry goes once its message has expired, or once it is older than
// WithStreamRetention (the design's rule: the longest session expiry plus
// a day, after which no session can still need it), by Append (every 64
// offsets, on the sub-stream it writes) and by TrimStreams (every
// sub-stream, for a periodic sweep). A sub-stream bucket stays when it is
// emptied: its sequence is the head, which must never go back. Without a
// retention, entries whose message does not expire are kept: the
// design's per-filter low-water mark (the lowest position of the filter's
// subscribers) is not built.
//
// # Indexes in memory
//
// Match answers from a topic.Index of every subscription, built from the
// subscription buckets at Open. The writes that change subscriptions
// (Connect, DeleteSession, Subscribe, Unsubscribe) hold a store mutex across
// their transaction and the index update that follows its commit (with
// WithGroupCommit, the goroutine that commits a group holds it and applies
// the updates of the group's calls in order), so the index changes in
// commit order. A Match that runs during such a write may
// miss the write that has committed but not reached the index yet.
// Session and Sessions answer from a cache of every decoded session, loaded
// at Open and updated the same way by the writes that change session records
// (Connect, SetOffline, DeleteSession, ClearWill), so routing a message does
// not read and decode its subscribers' sessions from the file; they return
// copies. The cache holds no wills: they live in their own bucket (see
// wills.go), and Session reads a session that has one from the file.
// RetainedPage scans the retained bucket from the filter's literal prefix
// on (see scanRetained, retained.go); the count and bytes of the retained
// messages are kept in meta (retainedTotals).
//
// The streams and positions keep nothing in memory and take no lock of
// their own: a head is its bucket's sequence, read and advanced in the
// transaction that appends, and bbolt runs one read-write transaction at a
// time, so a sub-stream's offsets follow commit order (under
// WithGroupCommit an Append runs in its group's transaction, under the
// store mutex like every grouped write). Reads (ReadStream, Heads,
// Positions) are read-only transactions, which see committed appends only.
//
// # Files
//
// One concern a file, as in infra/dynamo: store.go opens and closes the
// file (Store, its options and locks); txn.go runs the transactions
// (update, write, view) and the group commit; keys.go names the buckets and
// builds the keys; records.go encodes the values that carry a message;
// sessions.go holds the session records, Connect (the takeover),
// SetOffline, DeleteSession and Owned; cache.go the session cache
// (Session, Sessions); due.go the due bucket (Due); wills.go the wills
// bucket and ClearWill; subs.go the subscriptions and the subscription
// index (Match); outbound.go the queue, the in-flight window and the
// acknowledgements (Enqueue, Dispatch, Acknowledge, Release, Complete);
// streams.go delivery v2's streams and positions (session.StreamStore)
// and their retention;
// inbound.go the QoS 2 receive state; retained.go and retainedby.go the
// retained messages and their totals; sessionquota.go and storebytes.go
// the session and queued-byte quotas; leases.go the proxies' leases;
// auth.go the users and rules (auth.Store).
//
// # Limits
//
// bbolt keys are at most 32768 bytes: client ids, topics and filters
// longer than that are refused with bbolt's error.
package boltstore
