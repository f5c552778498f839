package delivery_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mqttless/mqttless/infra/delivery"
)

// During a rotation of the delivery secret, an endpoint given the new
// secret and the previous one serves handlers that still sign with the
// previous secret and those that already sign with the new one; a third
// secret stays refused. Without Previous, the old secret is refused.
func TestSecretRotation(t *testing.T) {
	ctx := context.Background()
	newSecret := []byte("0123456789abcdef-rotated")
	rotating := newEndpoint(t, delivery.ServerConfig{Secret: newSecret, Previous: secret})
	for name, key := range map[string][]byte{"previous": secret, "current": newSecret} {
		if _, err := newClient(t, key).Forward(ctx, rotating.url, sampleDeliveries()); err != nil {
			t.Errorf("client signing with the %s secret: %v", name, err)
		}
	}
	if n := len(rotating.delivered()); n != 2 {
		t.Errorf("%d requests delivered, want 2", n)
	}
	if _, err := newClient(t, otherSecret).Forward(ctx, rotating.url, sampleDeliveries()); !errors.Is(err, delivery.ErrRefused) {
		t.Errorf("client signing with a third secret: %v, want ErrRefused", err)
	}
	done := newEndpoint(t, delivery.ServerConfig{Secret: newSecret})
	if _, err := newClient(t, secret).Forward(ctx, done.url, sampleDeliveries()); !errors.Is(err, delivery.ErrRefused) {
		t.Errorf("after the rotation, the old secret: %v, want ErrRefused", err)
	}
	if _, err := delivery.NewServer(delivery.ServerConfig{Secret: newSecret, Previous: []byte("short")}, nil, nil); !errors.Is(err, delivery.ErrSecret) {
		t.Errorf("a previous secret of 5 bytes: %v, want ErrSecret", err)
	}
}
