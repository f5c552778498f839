package topic_test

import (
	"errors"
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

func TestParseShared(t *testing.T) {
	cases := []struct {
		in           string
		group, inner string
		ok           bool
		err          error
		id           string
	}{
		{"$share/g/a/b", "g", "a/b", true, nil, "MQTT-4.8.2-1"},
		{"$share/group/#", "group", "#", true, nil, "MQTT-4.8.2-1"},
		{"$share/g//", "g", "/", true, nil, "MQTT-4.8.2-2"},
		{"$share/g/$share/h/a", "g", "$share/h/a", true, nil, "MQTT-4.8.2-2"},
		{"$share/g/a#", "g", "a#", true, nil, "MQTT-4.8.2-2 (the inner filter is not validated)"},
		{"a/b", "", "", false, nil, "MQTT-4.8.2-1"},
		{"$share", "", "", false, nil, "MQTT-4.8.2-1"},
		{"$SHARE/g/a", "", "", false, nil, "MQTT-4.8.2-1"},
		{"", "", "", false, nil, "MQTT-4.8.2-1"},
		{"$share/", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-1"},
		{"$share//a", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-1"},
		{"$share/g", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-2"},
		{"$share/g/", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-2"},
		{"$share/g+/a", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-2"},
		{"$share/#/a", "", "", false, topic.ErrInvalidShare, "MQTT-4.8.2-2"},
	}
	for _, c := range cases {
		group, inner, ok, err := topic.ParseShared(c.in)
		if group != c.group || inner != c.inner || ok != c.ok || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, %v [%s]",
				c.in, group, inner, ok, err, c.group, c.inner, c.ok, c.err, c.id)
		}
	}
}
