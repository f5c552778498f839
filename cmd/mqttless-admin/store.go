package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/infra/adminsock"
	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// storeFlags are the flags that choose the store users and acl work on.
type storeFlags struct {
	store, dataDir, table string
}

// register defines the store flags on fs, their defaults from the
// environment.
func (s *storeFlags) register(set *flag.FlagSet) {
	set.StringVar(&s.store, "store", envOr(config.EnvName("store"), config.Default("store")), "store: bolt (the file in -data-dir) or dynamo (the table -table) (env MQTTLESS_STORE)")
	set.StringVar(&s.dataDir, "data-dir", envOr(config.EnvName("data-dir"), config.Default("data-dir")), "directory of the bolt store (env MQTTLESS_DATA_DIR)")
	set.StringVar(&s.table, "table", dynamo.TableFromEnv(), "DynamoDB table of -store dynamo (env MQTTLESS_TABLE)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// open opens the chosen store, through the broker's own code, and returns
// it with the function that closes it. A broker running on the bolt store
// holds its file: its admin socket in -data-dir (infra/adminsock) then
// takes the changes. Without create, a bolt store that
// does not exist yet is an error rather than a new empty file. Warnings of
// the store go to stderr.
func (s *storeFlags) open(stderr io.Writer, create bool) (auth.Store, func() error, error) {
	switch s.store {
	case "bolt", "dynamo":
	default:
		return nil, nil, fmt.Errorf("invalid value %q for -store (MQTTLESS_STORE): want bolt or dynamo", s.store)
	}
	if s.store == "dynamo" && s.table == "" {
		return nil, nil, errors.New("invalid value \"\" for -table (MQTTLESS_TABLE): must not be empty")
	}
	if sock := filepath.Join(s.dataDir, adminsock.SocketFile); s.store == "bolt" && adminsock.Running(sock) {
		return &adminsock.Client{Path: sock}, func() error { return nil }, nil
	}
	if s.store == "bolt" && !create {
		path := filepath.Join(s.dataDir, allinone.BoltFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("no store in %s (-data-dir, MQTTLESS_DATA_DIR): %s does not exist", s.dataDir, path)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, closeSt, err := allinone.OpenStore(config.Store{Kind: s.store, DataDir: s.dataDir, Table: s.table}, log)
	if err != nil {
		return nil, nil, err
	}
	as, ok := st.(auth.Store)
	if !ok {
		return nil, nil, errors.Join(fmt.Errorf("-store %s keeps no users or access rules", s.store), closeSt())
	}
	return as, closeSt, nil
}

// onStore runs the subcommand name on an existing store: it parses args
// (the store flags and want positional arguments, described by what),
// opens the store, runs fn with it and the positional arguments, and
// closes the store, returning fn's error joined with the close's.
func onStore(name string, args []string, want int, what string, stderr io.Writer, fn func(st auth.Store, pos []string) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs)
	pos, err := parse(fs, args, want, what)
	if err != nil {
		return err
	}
	st, closeSt, err := sf.open(stderr, false)
	if err != nil {
		return err
	}
	return errors.Join(fn(st, pos), closeSt())
}
