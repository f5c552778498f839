package session_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// A negative count or size is a bad setting: New refuses it with
// ErrConfig, naming the field, rather than treating it as unlimited.
func TestConfigRefusesNegative(t *testing.T) {
	for name, set := range map[string]func(*session.Config){
		"MaxSessions":     func(c *session.Config) { c.MaxSessions = -1 },
		"MaxUserSessions": func(c *session.Config) { c.MaxUserSessions = -1 },
		"MaxWillSize":     func(c *session.Config) { c.MaxWillSize = -1 },
		"MaxQueuedBytes":  func(c *session.Config) { c.MaxQueuedBytes = -1 },
		"MaxQueued":       func(c *session.Config) { c.MaxQueued = -1 },
		"MaxAliasBytes":   func(c *session.Config) { c.MaxAliasBytes = -1 },
		"MaxRetained":     func(c *session.Config) { c.MaxRetained = -1 },
	} {
		var c session.Config
		set(&c)
		_, err := session.New(memstore.New(), c, slog.New(slog.DiscardHandler))
		if !errors.Is(err, session.ErrConfig) {
			t.Errorf("%s -1: err = %v, want ErrConfig", name, err)
		}
	}
}
