// Package dynamo is a session.Store and an auth.Store on Amazon DynamoDB,
// in one table.
//
// Every read-modify-write is a conditional write, retried when it loses a
// race; throttling and transient errors are retried by the SDK's standard
// retryer. Every call asks for ReturnConsumedCapacity TOTAL, and the Store
// adds up what DynamoDB reports (Consumed).
//
// # Table
//
// One on-demand table (name from MQTTLESS_TABLE, default "mqttless";
// defined in template.yaml, from which mqttless-admin create-tables, the
// tests and -create-table create it) with string keys pk and sk, TTL on the
// attribute ttl, point-in-time recovery, and two sparse global secondary
// indexes, owner and due. keys.go builds every key and takes apart those
// that are read back; items.go turns core types into items and back.
//
// # Items
//
// <gen> and <seq> are zero-padded 20-digit decimals, <pid> a 5-digit one.
// A session's items other than the session item live under G<gen># in its
// partition: changing the session's generation gen makes everything the old
// generation held invisible at once. Each item below is given with its
// keys, then its main attributes.
//
//	session                      pk S#<client id>, sk #
//	    gen, rev, conn, proxy, ident (the identity the session belongs
//	    to), bound, ver, exp (expiry interval), expAt, rmax,
//	    mps, will, willAt, seq (last outbound Seq), nq (queued count), nf
//	    (in-flight QoS 1/2 count), qx (at most the earliest ttl queued),
//	    cnt (the session counters count it), hf (Seq of the message put in
//	    flight last: the After of the next while nf > 0), ttl; owner
//	    (P#<proxy>, only while online: index owner); dueP,
//	    dueAt (only while offline with a will or an expiry: index due),
//	    pos (delivery v2's positions: a map from "<shard>|<filter>" to n,
//	    a, r; streams.go)
//	subscription, session side   pk S#<client id>, sk G<gen>#U#<filter>
//	    gen, c (client id), f (filter), q, nl, rap, rh (options), sid
//	queued message               pk S#<client id>, sk G<gen>#O#<seq>
//	    seq, st 0, qos, ret, sids, msg, ttl (when the message expires)
//	in-flight message            pk S#<client id>, sk G<gen>#F#<pid>
//	    seq, pid, st (1 sent, 2 released), qos, ret, sids, msg
//	QoS 2 receive state          pk S#<client id>, sk G<gen>#I#<pid>
//	    pid, routed (set by MarkFannedOut), msg
//	subscription trie node       pk T#<filter prefix>, sk #
//	    n: subscriptions at or below this prefix; h: subscriptions whose
//	    filter is the prefix; deleted at n 0
//	subscription, topic side     pk T#<filter without $share>,
//	                             sk C#<full filter>#<gen>#<client id>
//	    the attributes of the session side
//	match epoch                  pk E#<first level of a filter>, or E#+
//	                             for filters starting with + or #; sk E
//	    e: the changes to the topic sides of the filters it covers
//	shared match                 pk M#<topic name>, sk m
//	    ep: the epochs a walk of the topic read; m: the topic-side items
//	    it found (at most 32); ttl a day after the walk (sharedmatch.go)
//	retained counter             pk R (root) or R#<topic prefix>,
//	                             sk N<next level>
//	    n: retained messages below prefix/level; deleted at 0
//	retained message             pk R or R#<topic prefix>, sk M<next level>
//	    msg of topic prefix/level, ttl (when it expires)
//	retained totals              pk RT, sk T
//	    n, b: every retained message and their bytes (Message.Size)
//	retained totals of identity  pk RI#<identity>, sk T
//	    n, b: the retained messages recorded with the identity (msg.id)
//	session counter              pk SC, sk N
//	    n: the sessions the counters count (sessionquota.go)
//	session counter of identity  pk SC#<identity>, sk N
//	    n: those of the identity
//	user                         pk U#<name>, sk U
//	    name, hash (bcrypt), created (Unix ms), clientIds (pattern)
//	user list entry              pk USERS, sk U#<name>
//	    the attributes of the user item
//	access rule                  pk ACL, sk R#<id>
//	    id, user, client, access (publish, subscribe or both), filter, deny
//	stream entry (delivery v2)   pk Q#<shard>#<filter>, sk o#<offset, 16 hex>
//	    msg, w (the append's token), ttl (WithStreamRetention); see
//	    streams.go
//	stream base (delivery v2)    pk Q#<shard>#<filter>, sk b#
//	    base (the offset an empty sub-stream continues after), at (Unix s);
//	    no ttl; see streamBase in streams.go
//	proxy lease                  pk L, sk <proxy>
//	    until (Unix ms), ended, unreachable, ttl (a day after until);
//	    see leases.go
//
// A message (msg, and a will's m) is a map: t (topic), p (payload), q, r
// (retain), pub (publisher), id (the publisher's identity, on retained
// messages), x (expiry, Unix ms), and the properties pfi,
// ct, rt, cd, up (user properties), has.
//
// rev changes with every write of the ownership attributes (everything but
// gen, seq, nq, nf and qx); read-modify-writes of them are conditioned on
// it. seq, nq, nf and qx change with the outbound items, in the same
// transaction.
//
// # Sessions
//
//   - Connect. Read the session item, then one UpdateItem of its ownership
//     attributes conditioned on the rev read (or on attribute_not_exists for
//     a new session); a lost race is retried. A session another identity
//     may not take (session.Session.MayConnect, decided on the item read,
//     which the condition pins) is refused without a write. With clean
//     start, or when the old session is not kept for the identity
//     (session.Session.Kept), the same update sets a new gen (at least the
//     current Unix ms, so it also passes any generation an
//     expired-and-TTL-deleted incarnation left behind) and resets nq and nf
//     (and removes qx). The old generations' items are then queried (sk
//     BETWEEN "G" AND "G<new gen>") and deleted with BatchWriteItem (no
//     conditions needed: their keys cannot collide with the new
//     generation's), each old subscription's topic side first, with its
//     trie counters and its match epoch (one transaction, conditioned on the
//     topic-side item existing). A clean-up cut short by a crash is finished
//     by the session's next clear or deletion; until then its topic-side
//     items are ignored (see Match).
//     When the write creates a session, takes one over for another
//     identity, or first writes one the counters do not count yet, it is
//     a TransactWriteItems of that update and ADD n on the session
//     counters (+1 on the table's and the identity's, or -1 on the old
//     identity's and +1 on the new one's), an increment conditioned on n
//     below the limit (session.SessionLimits): a failed counter condition
//     is ErrQuotaExceeded, a failed session condition a lost race.
//   - Fencing. Every write a connection makes to its session is a condition
//     conn = :conn on the session item, or a ConditionCheck of it (with gen)
//     in the same TransactWriteItems. Dispatch (and Enqueue's dispatch)
//     adds conn = :conn to its update of the session item when given a
//     connection. Receive, MarkFannedOut and Forget read the session
//     item for its gen and check conn on that read: the write goes to the
//     gen read, so a clean start after the read leaves it in the old
//     generation, which nothing reads. Acknowledge and Complete add
//     conn = :conn to the condition of their update of the session item
//     (no read or write unit more); a cached gen is used as before, and a
//     failed condition reads the session, which tells a takeover
//     (ErrFenced) from a new generation. Release checks conn on the read
//     of the gen it makes anyway; its write, to the in-flight item, is
//     under that gen (see Release).
//   - Sessions: BatchGetItem of session items, 100 keys a call, unprocessed
//     keys retried, except the items the Store's own Match read less than
//     100 ms before (see Match). The will stays in the session item: the
//     store caches no session past those 100 ms, so a will is decoded per
//     read and dropped (Sessions and MatchSessions return none), never held;
//     its cost is the read units of a larger item, which -max-will-size
//     bounds (a projection would not lower them: DynamoDB charges a read by
//     the whole item). Owned: a query of the index owner. Due: a
//     query of the index due (partition dueP, one of 8 shards by client id,
//     sort dueAt <= now; dueAt is the earlier of the will's time and the
//     expiry). Both indexes are eventually consistent: a session can show
//     up a moment late, and the caller's conditional writes (ClearWill,
//     DeleteSession) catch a stale one.
//   - DeleteSession. Delete the session item conditioned on the rev read
//     (a TransactWriteItems, with ADD n -1 on its counters when it has
//     cnt), then the whole G range of the partition, as Connect does.
//   - Resends (resend.go). A write the SDK sends again after its answer
//     was lost finds its own change. Connect, SetOffline and ClearWill
//     set a write token w on the session item and take a failed condition
//     on an item carrying theirs as their own write, not a lost race or a
//     fence; EndLease does so on the lease item. Forget takes a failed
//     condition after an unanswered attempt as done; Receive takes an
//     inbound item with its own Receipt as its own. Deletes of a session
//     or a rule are transactions, whose idempotency token the SDK keeps
//     across its resends.
//   - Subscriptions, Inflight: read the session item, then one Query of its
//     generation's U# (F#) items (genItems).
//
// # Subscriptions
//
//   - Subscribe/Unsubscribe. Read the session item (the connection must own
//     it), then per filter read the session-side item to learn whether it
//     exists, then one TransactWriteItems: fence check, the session-side
//     item (conditioned on existing or not, as read; a lost race is
//     retried), the topic-side item, ADD e 1 on the filter's match epoch,
//     and ADD n ±1 on the trie node of every prefix of the filter (h ±1 on
//     its own), the counters only when the subscription is new or really
//     removed (Unsubscribe of a filter not held writes nothing). Filters of
//     more than 96 levels or 900 bytes are refused (100 items a
//     transaction, 1 KB sort keys). After a removal (Unsubscribe, or a
//     purge's topic-side delete), the nodes whose n fell to 0 are deleted:
//     a DeleteItem per node, from the filter's own node up, conditioned on
//     n = 0 (or the node being gone), stopping at the first that still
//     counts subscriptions. A Subscribe racing with it either keeps a node
//     (n is no longer 0) or recreates it (ADD on a missing item); a missing
//     node reads as n 0, so the table does not grow with subscription
//     churn.
//   - Match (every PUBLISH): first one BatchGetItem of the topic's match
//     epochs (E#<first level> and E#+; only the first for a $ topic).
//     Subscribe, Unsubscribe and the purge of a replaced generation's
//     topic-side item each ADD e 1 to their filter's epoch in their
//     transaction, so when both epochs equal those a previous Match of the
//     same topic read before its walk, the topic-side items that walk found
//     are still the right ones, and the Store (one per function instance)
//     reuses them from its match cache (matchcache.go; up to 10,000 topics,
//     10 minutes at most); the generation check below is still made fresh.
//     Otherwise a GetItem of the topic's shared match, used when its
//     epochs equal those just read (another instance walked the topic
//     since the last change; sharedmatch.go). Otherwise, a walk of the subscription trie level by level: at each
//     level one BatchGetItem of the nodes prefix/level, prefix/+ and
//     prefix/# for every node of the previous level with n > 0 (no + or #
//     at the first level of a $ topic), and after the last level of the
//     prefix/# nodes too (a/# matches a); then one Query of the topic-side
//     items of each matching node with h > 0, and one BatchGetItem of their
//     clients' session items: topic-side items of another generation, or of
//     a session that is gone, are dropped. Reads grow with the topic's
//     depth and the matching filters, never with the subscriptions held.
//     A walk of at most 32 items stores them as the topic's shared match
//     (one PutItem).
//     The session items are read whole (DynamoDB bills a read by the item's
//     size however little is projected) and kept in the Store for the
//     Sessions call with which the fan-out follows Match: an item serves one
//     Sessions call within 100 ms of its read, and the Store's own writes
//     of the session (Connect, SetOffline, ClearWill, DeleteSession) drop
//     it, so a PUBLISH reads each matched session once. This is safe
//     because a fresh read gives no guarantee either: the fan-out acts on the
//     sessions after its reads, at the end of the handler call (the flush),
//     and another connection can take a session over at any moment in
//     between. Enqueue is conditioned on gen, not on the connection, so a
//     QoS 1/2 message always lands in the session's durable queue; a view
//     that is up to 100 ms older can only widen the existing window in
//     which a message put in flight for a connection just taken over is
//     sent to the old connection, where it stays in flight (counted, never
//     lost) and is resent with DUP when the client next connects, and in
//     which a QoS 0 message goes to the old connection (at most once).
//   - MatchSessions (every PUBLISH, through session.MatchReader): Match and
//     Sessions in one. The topic-side items come as in Match (epochs, then
//     the match cache or the walk). A client reached at QoS 1 or 2, or
//     through a shared subscription, has its session item read fresh; one
//     reached only at QoS 0 is served from the item this Store last read of
//     it while it was online (up to 5 minutes old; any fresh read of the
//     session, and the Store's own writes of it, replace or drop the copy).
//     Topic-side items of another generation than the session item's are
//     dropped. So a warm QoS 0 PUBLISH to online subscribers reads the
//     topic's two match epochs and nothing else. A copy can name a
//     connection that has since gone (the client reconnected, perhaps with
//     a clean start, or left): the message goes to that connection, its
//     proxy answers that it is gone, and Handler.Undelivered reads the
//     session afresh and sends the message to the client's new connection
//     if it still subscribes to the topic, queues it (-queue-qos0) if the
//     session is offline, or drops it. QoS 0 is at most once; what this
//     trades is a round trip on the rare path for a read on every message.
//
// # Retained messages
//
//   - RetainedPage (SUBSCRIBE, a page at a time): a depth-first walk of
//     the retained trie along the filter in level order (topics compared
//     level by level, a topic before those below it), skipping subtrees
//     that end before the page's start and stopping when the page is full:
//     a literal level is a BatchGetItem of the N and M items it names, a +
//     or # a Query of a node's partition projected to keys and n (no
//     message bodies), descending only where n > 0; the page's messages
//     are then read with BatchGetItem, 16 at a time. No Scan. A message whose ttl has
//     passed is left out and deleted with its ancestors' counters (ADD n
//     -1) and the totals in one transaction conditioned on the item still
//     having that ttl; a + or # query that finds a node's items counting
//     fewer messages than the node's counter read before it (DynamoDB's
//     TTL deleted some, changing no counter) sets the counter to that
//     number, or deletes it at 0, conditioned on the value read: every
//     transaction that read saw is visible to the later query, and one
//     after it changed the counter and fails the condition, so a counter
//     never falls below the messages it counts (one left high only costs
//     reads).
//   - SetRetained: read the message item, then a conditional PutItem when
//     it replaces one by one of the same size, or a TransactWriteItems of
//     the message item, ADD n ±1 on its ancestors' counters when a message
//     appears or goes, and ADD n, b on the totals item, conditioned (when
//     it grows them) on the limits: n below the count before an add, b at
//     most the byte limit less the growth; a failed totals condition is
//     ErrQuotaExceeded. The totals of the identity recorded with the new
//     message (RI#<identity>) are held the same way to the identity's
//     limits; those of the identity of the message replaced or removed
//     go down, in the same transaction, whose write of the message item
//     is conditioned on that message's identity (so a replacement
//     meanwhile is retried, not charged to the wrong identity). Messages
//     DynamoDB's TTL deletes leave the totals high (they are not healed
//     yet), which only refuses early.
//     Counters and messages are separate items so that a counter update
//     never rewrites (and pays for) a large message. When a message goes,
//     the counters that fell to 0 are deleted as the trie nodes are
//     (conditioned on n = 0, deepest first).
//
// # Outbound and inbound messages
//
//   - Enqueue. Read the session's seq, nq and nb, then TransactWriteItems of
//     up to 99 messages (and 3 MB), as many as QueueLimit allows (nb is the
//     Message.Size of the queued messages summed, each O# item carrying its
//     own as sz): update the session (seq, nq, nb, qx) on the
//     condition that gen and seq are still the values read and nq leaves
//     room, and put the O# items. A lost race is retried. When the queue
//     looks full and qx has passed (DynamoDB may have deleted expired
//     messages of it), the queue is first recounted (see Expiry).
//   - Dispatch. Query the oldest queued O# items (48 a round), and move
//     those that fit the window in flight in one TransactWriteItems: delete
//     each O# item (condition: it exists), put it as F#<pid> (condition:
//     attribute_not_exists), and update the session's nq, nf, nb and hf
//     on the condition nf <= window - moved, conn the connection
//     dispatched for (else ErrFenced), and hf unchanged (each message
//     moved reports as session.Outbound.After the hf read, or the message
//     moved before it; 0 when nf was 0). QoS 0 messages are only deleted. The
//     packet identifier is derived from the Seq, (seq - 1) mod 65535 + 1,
//     so it needs no allocation write; the put's condition makes DynamoDB
//     refuse one still held by an older in-flight message (Seqs in flight
//     spanning more than 65,535), and the next free identifier is tried.
//     Concurrent Dispatch calls race on the conditions; the loser re-reads
//     and retries. Queued items whose ttl has passed are deleted in the
//     same transaction (counted out of nq) instead of being put in flight,
//     and the F# item carries no ttl. When the query finds the whole queue
//     shorter than nq, the queue is recounted first (see Expiry).
//     Dispatch returns the messages it put in flight or an error, never
//     both (settle.go): its caller sends only what an error-free call
//     returns, and a message in flight that is never sent holds a place of
//     the window until the client reconnects (a few of them stop the
//     queue). So a round that fails after earlier rounds moved messages
//     (the caller's deadline, under a backlog of more than a round) ends
//     the call with those messages, and a round's transaction that gets no
//     answer is sent again with the same ClientRequestToken, unaffected by
//     the caller's deadline (at most 3 s, and at most 0.5 s past that
//     deadline, within the 2 s the relay keeps after it for deliveries):
//     DynamoDB answers success without writing again if the first was
//     applied, and applies or cancels it otherwise, so the round's outcome
//     is known. A resend without an answer in that time leaves it unknown:
//     the round fails with an error, never success, and messages it may
//     have put in flight wait for the client's next connection.
//   - Acknowledge, Complete: one transaction: delete F#<pid> on the
//     condition of its QoS and state, and nf - 1 on the session conditioned
//     on gen and conn (the Store caches generations it has read, so this
//     usually needs no read first). Release, Receive, MarkFannedOut, Forget:
//     read the gen (and check conn), then one conditional write (attribute_not_exists for Receive,
//     returning the existing item on failure). Receiving: read the gen,
//     then a query of its I# keys.
//   - Expiry. The session item has a ttl (session expiry plus a day), as a
//     backstop: Due finds expired sessions and the handler deletes them with
//     everything they hold. Queued messages and retained messages with a
//     Message Expiry Interval have a ttl 10 minutes after the message
//     expires (epoch seconds), so DynamoDB deletes them in the end even if
//     nobody reads them; the handler keeps dropping expired messages it is
//     handed [MQTT-3.3.2-5], and the store deletes the items whose ttl has
//     passed that it meets itself, with their counters. In-flight and
//     receive items get no ttl: a delivery once started must complete, and
//     nf counts them. DynamoDB's deletion changes no counter, so nq (and the
//     retained counters, see RetainedPage) can be left above the items that
//     exist; they heal. The session's qx is at most the earliest ttl among
//     its queued items (set by Enqueue, from scratch when the queue was
//     empty; not raised when messages leave), so before qx DynamoDB cannot
//     have deleted any and nq is exact.
//   - Recount: read the session, query its O# items (keys, ttl and sz only),
//     then one transaction: delete the items whose ttl has passed (up to 99;
//     DynamoDB may already have) and set nq to the items left, nb to their
//     sizes and qx to their earliest ttl, conditioned on the gen, seq and nq read. The query
//     follows the read, so it shows every transaction the read saw; an
//     enqueue after it changes seq and a dispatch nq, failing the condition
//     (the caller re-reads), so nq never ends below the messages queued.
//     Enqueue recounts when the queue looks full and qx has passed;
//     Dispatch when its query finds fewer queued items than nq (the whole
//     queue read) and qx has passed. Before qx a shortfall is a dispatch
//     that ran since the session was read (the nq read is older than the
//     query, or is Enqueue's view), which a recount's condition on nq
//     would refuse anyway ("recount lost a race"): nq is kept exact by
//     the transactions that move the items, and only DynamoDB's TTL
//     deletion takes items without it. So a session whose expired messages DynamoDB deleted
//     unseen can be filled to -max-queued again at its next enqueue, and nq
//     never reads 0 (which makes Dispatch stop) while messages wait in the
//     queue.
//
// # Users and rules
//
// auth.Store. A user is two items written together: the user item, which
// User reads, and its entry in the user list, a copy of it that Users
// queries.
//
//   - User: one GetItem of the user item.
//   - PutUser: one TransactWriteItems of the user item and its list entry,
//     the user item conditioned on attribute_not_exists(pk) unless it
//     replaces (a failed condition is auth.ErrExists).
//   - DeleteUser: one transaction deleting both, conditioned on
//     attribute_exists(pk) (else auth.ErrNotFound).
//   - Users: one Query of the USERS partition, page by page: the list
//     entries copy the user items so that listing (an admin operation)
//     neither scans the table nor reads the user items one by one.
//   - Rules: one Query of the ACL partition.
//   - PutRule: one PutItem; an ID it assigns is 16 random hex digits,
//     written with attribute_not_exists(pk) so that it never replaces
//     another rule.
//   - DeleteRule: a transaction of one item deleting the rule, conditioned
//     on attribute_exists(pk) (else auth.ErrNotFound). A transaction, for
//     its idempotency token: a DeleteItem resent by the SDK after its
//     answer was lost would fail its condition on its own deletion.
//
// Sort keys are in UTF-8 byte order, the order of Users and Rules. Names
// and IDs are at most 1,022 bytes (1 KB sort keys): longer ones are
// auth.ErrInvalid to write and not found to read. The USERS and ACL
// partitions are each one item collection: they take the writes of
// administration, and the broker should not query ACL on every CONNECT
// without caching it (a partition serves up to 3,000 reads a second).
//
// # Limits, consistency and capacity
//
//   - Limits. An item holds at most 400 KB: the store refuses a larger
//     message with ErrItemTooLarge (a Store error, so the connection is
//     closed with 0x80). The broker prevents it: with -store dynamo
//     -max-packet-size defaults to MaxPacketSize, 393,216 bytes (384 KiB),
//     and a larger value is refused at start-up, naming the setting, so
//     every message a client can send fits in an item. Batch writes respect
//     25 items, transactions 100; queries follow LastEvaluatedKey;
//     throttling and transient errors are retried by the SDK's standard
//     retryer (10 attempts), conflicts between transactions
//     (TransactionCanceledException) by the store's optimistic loops, with
//     backoff.
//   - Consistency. Base-table reads are strongly consistent; only the two
//     index queries are not.
//   - Capacity. Every call sets ReturnConsumedCapacity TOTAL; Consumed adds
//     up what DynamoDB reports, and an estimate from item sizes (for
//     emulators that report none, see README "DynamoDB cost").
package dynamo
