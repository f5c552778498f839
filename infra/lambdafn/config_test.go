package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The functions read the broker's settings from MQTTLESS_<FLAG> variables,
// on DynamoDB whatever MQTTLESS_STORE says; a bad one is named.
func TestConfig(t *testing.T) {
	cfg, err := lambdafn.Config(context.Background(), env(map[string]string{
		"MQTTLESS_STORE": "bolt", "MQTTLESS_TABLE": "t1", "MQTTLESS_ALLOW_ANONYMOUS": "false",
		"MQTTLESS_CERT_IDENTITY": "true", "MQTTLESS_AUTH_CACHE": "1m", "MQTTLESS_MAX_TOPIC_LEVELS": "5",
		"MQTTLESS_MAX_SUBSCRIPTIONS": "7", "MQTTLESS_LOG_LEVEL": "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Kind != "dynamo" || cfg.Store.Table != "t1" || cfg.Auth.AllowAnonymous || !cfg.Auth.CertIdentity || cfg.Auth.Cache != time.Minute ||
		cfg.Session.MaxTopicLevels != 5 || cfg.Session.MaxSubscriptions != 7 || cfg.Log.Level != slog.LevelDebug {
		t.Errorf("got %+v", cfg)
	}
	_, err = lambdafn.Config(context.Background(), env(map[string]string{"MQTTLESS_AUTH_CACHE": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "MQTTLESS_AUTH_CACHE") {
		t.Errorf("MQTTLESS_AUTH_CACHE=soon: err = %v, want one naming it", err)
	}
}

// The functions log JSON, at MQTTLESS_LOG_LEVEL, whatever
// MQTTLESS_LOG_FORMAT says.
func TestNewLogger(t *testing.T) {
	cfg, err := lambdafn.Config(context.Background(), env(map[string]string{"MQTTLESS_LOG_LEVEL": "warn", "MQTTLESS_LOG_FORMAT": "text"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := lambdafn.NewLogger(&buf, cfg)
	log.Info("quiet")
	log.Warn("loud", "n", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "loud" || rec["level"] != "WARN" {
		t.Errorf("logged %q (%v), want one JSON warning", buf.String(), err)
	}
}

// The functions authenticate against the users of their table: with
// MQTTLESS_ALLOW_ANONYMOUS=false an anonymous CONNECT is refused, and a
// stored user with its password is let in.
func TestFunctionAuth(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	st, ok := any(dynamo.New(db, table)).(auth.Store)
	if !ok {
		t.Fatal("the DynamoDB store keeps no users")
	}
	hash, err := auth.HashPassword([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutUser(ctx, &auth.User{Name: "fn-user", Hash: hash, Created: time.Now().UnixMilli()}, true); err != nil {
		t.Fatal(err)
	}
	fn, err := lambdafn.New(ctx, invocation.GroupConnect, env(map[string]string{
		"MQTTLESS_TABLE": table, "MQTTLESS_ALLOW_ANONYMOUS": "false", "MQTTLESS_DELIVERY_SECRET": "0123456789abcdef",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		c    packet.Connect
		want byte
	}{
		{packet.Connect{ClientID: "fn-anon", CleanStart: true}, 0x87},
		{packet.Connect{ClientID: "fn-bad", CleanStart: true, UsernameFlag: true, Username: "fn-user", PasswordFlag: true, Password: []byte("nope")}, 0x86},
		{packet.Connect{ClientID: "fn-ok", CleanStart: true, UsernameFlag: true, Username: "fn-user", PasswordFlag: true, Password: []byte("s3cret")}, 0},
	} {
		ev := &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "fn-c" + string(rune('0'+i)), Packets: [][]byte{frame(t, &tc.c)}}
		r, err := fn.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Packets) != 1 || r.Packets[0][0]>>4 != byte(packet.CONNACK) || r.Packets[0][3] != tc.want {
			t.Errorf("CONNECT of %s: reply % x, want a CONNACK with reason %#x", tc.c.ClientID, r.Packets, tc.want)
		}
	}
}
