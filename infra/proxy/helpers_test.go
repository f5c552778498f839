package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/infra/proxy"
)

// wrapClient makes a test client of any connection.
func wrapClient(t *testing.T, nc net.Conn, v packet.Version) *client {
	return &client{t: t, nc: nc, fr: packet.NewFrameReader(bufio.NewReader(nc), 0), v: v}
}

func shutdown(t *testing.T, srv *proxy.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// frame encodes p at version v.
func frame(t *testing.T, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asNetError(err error, ne *net.Error) bool { return errors.As(err, ne) }
