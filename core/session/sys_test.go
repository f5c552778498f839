package session_test

import (
	"context"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// A KindSys event publishes each statistic as a retained QoS 0 message
// from the broker itself: routed to the matching subscriptions (a '#'
// subscription excluded [MQTT-4.7.2-1]) and sent to later subscribers as
// retained [MQTT-3.3.1-9]. It writes nothing to a connection of its own.
func TestSys(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connect(v, "s")
			s.sub(sub("$SYS/broker/+", 1))
			all, _, _ := e.connect(v, "all")
			all.sub(sub("#", 1))
			off, _, _ := e.connect(v, "off", persistent(), resume())
			off.sub(sub("$SYS/#", 1))
			off.disconnect()

			r, err := e.handler().Handle(context.Background(), &session.Event{Kind: session.KindSys, Sys: []session.SysValue{
				{Topic: "$SYS/broker/uptime", Value: "42 seconds"},
				{Topic: "$SYS/broker/clients/connected", Value: "2"},
				{Topic: "elsewhere/uptime", Value: "ignored"},
				{Topic: "$SYSTEM/x", Value: "ignored"},
				{Topic: "$SYS/bad/+", Value: "ignored"},
			}})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			e.checkReply(nil, r)
			if len(r.Packets) != 0 || r.Close || r.State != nil {
				t.Errorf("reply to the event itself: %d packets, close %v", len(r.Packets), r.Close)
			}
			p := one[*packet.Publish](t, s.recv(r))
			if p.Topic != "$SYS/broker/uptime" || string(p.Payload) != "42 seconds" || p.QoS != 0 || p.Retain {
				t.Errorf("got %s, want QoS 0 without the retain flag on a live delivery [MQTT-3.3.1-12]", describe(p))
			}
			if ps := all.recv(r); len(ps) != 0 {
				t.Errorf("'#' got %s [MQTT-4.7.2-1]", describeAll(ps))
			}
			if len(r.Deliveries) != 1 {
				t.Errorf("%d deliveries, want 1 (QoS 0 is not queued for offline sessions)", len(r.Deliveries))
			}

			// Later subscribers get the retained values, and nothing else
			// was retained.
			late, _, _ := e.connect(v, "late")
			ps := late.sub(sub("$SYS/#", 0))
			got := map[string]string{}
			for _, p := range publishes(ps) {
				if !p.Retain {
					t.Errorf("%s without the retain flag [MQTT-3.3.1-9]", describe(p))
				}
				got[p.Topic] = string(p.Payload)
			}
			want := map[string]string{"$SYS/broker/uptime": "42 seconds", "$SYS/broker/clients/connected": "2"}
			if len(got) != len(want) || got["$SYS/broker/uptime"] != want["$SYS/broker/uptime"] ||
				got["$SYS/broker/clients/connected"] != want["$SYS/broker/clients/connected"] {
				t.Errorf("retained %v, want %v", got, want)
			}
			if msgs, _ := e.store.RetainedPage(t.Context(), "#", "", 1000, 1<<30); len(msgs) != 0 {
				t.Errorf("a value outside $SYS/ was retained: %d messages", len(msgs))
			}
		})
	}
}

// clients/total is Mosquitto's "connected and registered" clients: with a
// store that counts its sessions, the sessions it holds, online or
// offline, whatever the proxy sent (its connected clients).
func TestSysClientsTotal(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.connect(v5, "online")
	off, _, _ := e.connect(v5, "offline", persistent())
	off.disconnect()
	e.connect(v5, "reader")
	r, err := e.handler().Handle(context.Background(), &session.Event{Kind: session.KindSys, Sys: []session.SysValue{
		{Topic: "$SYS/broker/clients/connected", Value: "2"},
		{Topic: "$SYS/broker/clients/total", Value: "2"},
	}})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	e.checkReply(nil, r)
	late, _, _ := e.connect(v5, "late")
	got := map[string]string{}
	for _, p := range publishes(late.sub(sub("$SYS/#", 0))) {
		got[p.Topic] = string(p.Payload)
	}
	if got["$SYS/broker/clients/total"] != "3" || got["$SYS/broker/clients/connected"] != "2" {
		t.Errorf("retained %v, want clients/total 3 (two online, one offline session), clients/connected 2 as sent", got)
	}
}
