package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// A CONNECT waiting for the handlers. In a reconnection storm CONNECTs
// wait in the Lambda invoker's queue (infra/lambdainvoke) for a connect
// invocation, and each costs a bcrypt check there. The proxy spends no
// invocation on a CONNECT it could not answer:
//   - while a CONNECT waits, the proxy looks at its socket every
//     connectWatchEvery; once the client has closed it, the call's context
//     is cancelled, and the invoker drops the event before invoking it
//     (counted as RefusedAbandoned). A client that sent anything after its
//     CONNECT is not watched: what it sent is handled as usual.
//   - the call is marked invocation.Sheddable: the invoker refuses it
//     (invocation.ErrShed) rather than invoke it with less of its
//     -invoke-timeout left than the connect function's recent invocations
//     took, since the proxy would close the connection before the answer
//     came. The client gets CONNACK 0x89 Server busy at 5.0, return code
//     3 Server unavailable at 3.1.1 and 3.1, and the connection is closed
//     (counted as RefusedBusy); it retries, and the queue drains at the
//     rate the function answers.

// connectWatchEvery is how often the socket of a waiting CONNECT is
// looked at.
const connectWatchEvery = 250 * time.Millisecond

// connectContext prepares ctx, whose cancel is cancel, for the call that
// hands c's CONNECT event ev to the handlers, and returns the function
// that ends the watch once the call returns.
func (c *conn) connectContext(ctx context.Context, cancel context.CancelFunc, ev *session.Event) (context.Context, func()) {
	if c.state != nil || ev.Kind != session.KindPackets {
		return ctx, func() {}
	}
	ctx = invocation.Sheddable(ctx)
	closed := peerClosedFunc(c.nc)
	if closed == nil || c.rd.buffered() > 0 {
		return ctx, func() {}
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(connectWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if closed() {
					c.abandoned.Store(true) // before cancel, which ends the call
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() { close(stop) }
}

// connectUnanswered ends c when the handlers did not take its CONNECT
// event ev because the client had gone, or because it was shed, and
// reports whether it did.
func (c *conn) connectUnanswered(ev *session.Event, err error) bool {
	switch {
	case c.state != nil:
		return false
	case errors.Is(err, context.Canceled) && c.abandoned.Load():
		c.refusedFor = RefusedAbandoned
		c.close()
		return true
	case errors.Is(err, invocation.ErrShed):
		c.refusedFor = RefusedBusy
		var p packet.Connect
		if len(ev.Packets) == 0 || p.Decode(ev.Packets[0], 0) != nil {
			c.close()
			return true
		}
		// [MQTT-3.2.2-7] (3.1.1: [MQTT-3.2.2-5]) a refusing CONNACK, then
		// the close; session present is 0 [MQTT-3.2.2-6] (the codec).
		ack, aerr := (&packet.Connack{ReasonCode: packet.ServerBusy}).Append(nil, p.Version)
		if aerr != nil {
			c.close()
			return true
		}
		c.establish([][]byte{ack}, nil, true)
		return true
	}
	return false
}
