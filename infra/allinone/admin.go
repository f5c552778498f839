package allinone

import (
	"path/filepath"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/infra/adminsock"
)

// listenAdmin opens the admin socket of the embedded store (-store bolt):
// mqttless-admin changes users and rules through it while the broker
// holds the store's file (infra/adminsock). A socket that cannot be
// opened (a data directory whose path is too long for a Unix socket, a
// file system without them) is no reason not to start: the broker warns,
// and mqttless-admin then needs the broker stopped.
func (b *Broker) listenAdmin(st any) {
	as, ok := st.(auth.Store)
	if b.cfg.Store.Kind != "bolt" || !ok {
		return
	}
	path := filepath.Join(b.cfg.Store.DataDir, adminsock.SocketFile)
	ln, err := adminsock.Listen(path)
	if err != nil {
		b.log.Warn("no admin socket: mqttless-admin will need the broker stopped", "err", err)
		return
	}
	b.adminLn, b.adminSt = ln, as
}

// serveAdmin serves the admin socket, when there is one, until Run closes
// it.
func (b *Broker) serveAdmin() {
	if b.adminLn == nil {
		return
	}
	b.log.Info("admin socket listening: mqttless-admin changes users and rules through it", "path", b.adminLn.Addr().String())
	go adminsock.Serve(b.adminLn, b.adminSt, b.log)
}
