package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mqttless/mqttless/core/auth"
)

// usersAdd adds a user with a password read from stdin (one line) or given
// with -password; -replace sets the password of an existing user.
func usersAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs)
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input, one line (the default)")
	password := fs.String("password", "", "the password (it lands in the shell history: prefer -password-stdin)")
	replace := fs.Bool("replace", false, "set the password of an existing user")
	clientIDs := fs.String("client-ids", "", "the pattern the user's client ids must match, such as %u or %u-* (see README); empty: the broker's default")
	cost := fs.Int("cost", auth.DefaultCost, fmt.Sprintf("bcrypt cost of the password hash, %d to %d: each step doubles the CPU of every CONNECT with this password, and of guessing it from a stolen hash", auth.MinCost, auth.MaxCost))
	pos, err := parse(fs, args, 1, "one user NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if name == "" {
		return errors.New("users add: the user NAME must not be empty")
	}
	if err := auth.ValidateClientIDPattern(*clientIDs); err != nil {
		return fmt.Errorf("users add: -client-ids: %w", err)
	}
	pw := *password
	passwordSet := false
	fs.Visit(func(f *flag.Flag) { passwordSet = passwordSet || f.Name == "password" })
	switch {
	case passwordSet && *fromStdin:
		return errors.New("users add: give -password or -password-stdin, not both")
	case passwordSet:
		fmt.Fprintln(stderr, "mqttless-admin: warning: -password lands in the shell history and the process list; prefer -password-stdin")
	default:
		if f, ok := stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprintf(stderr, "password for %s (shown as typed): ", name)
			}
		}
		if pw, err = readLine(stdin); err != nil {
			return fmt.Errorf("users add: reading the password from standard input: %w", err)
		}
	}
	if pw == "" {
		return errors.New("users add: the password must not be empty")
	}
	hash, err := auth.HashPasswordCost([]byte(pw), *cost)
	if err != nil {
		return fmt.Errorf("users add: -cost: %w", err)
	}
	st, closeSt, err := sf.open(stderr, true)
	if err != nil {
		return err
	}
	u := &auth.User{Name: name, Hash: hash, Created: time.Now().UnixMilli(), ClientIDs: *clientIDs}
	if *replace {
		if old, err := st.User(ctx, name); err == nil {
			u.Created = old.Created
			clientIDsSet := false
			fs.Visit(func(f *flag.Flag) { clientIDsSet = clientIDsSet || f.Name == "client-ids" })
			if !clientIDsSet {
				u.ClientIDs = old.ClientIDs
			}
		}
	}
	err = st.PutUser(ctx, u, *replace)
	if errors.Is(err, auth.ErrExists) {
		err = fmt.Errorf("user %s exists (use -replace to set its password): %w", name, err)
	}
	if err = errors.Join(err, closeSt()); err != nil {
		return err
	}
	verb := "added"
	if *replace {
		verb = "saved"
	}
	fmt.Fprintf(stdout, "%s user %s\n", verb, name)
	return nil
}

// usersSet changes what users add set for an existing user, other than
// its password: its client-id pattern (-client-ids, "" for the broker's
// default).
func usersSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("users set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs)
	clientIDs := fs.String("client-ids", "", "the pattern the user's client ids must match, such as %u or %u-* (see README); empty: the broker's default")
	pos, err := parse(fs, args, 1, "one user NAME")
	if err != nil {
		return err
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "client-ids" })
	if !set {
		return errors.New("users set: nothing to set: give -client-ids")
	}
	if err := auth.ValidateClientIDPattern(*clientIDs); err != nil {
		return fmt.Errorf("users set: -client-ids: %w", err)
	}
	st, closeSt, err := sf.open(stderr, false)
	if err != nil {
		return err
	}
	name := pos[0]
	err = func() error {
		u, err := st.User(ctx, name)
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("no user %s: %w", name, err)
		} else if err != nil {
			return err
		}
		u.ClientIDs = *clientIDs
		return st.PutUser(ctx, u, true)
	}()
	if err = errors.Join(err, closeSt()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved user %s\n", name)
	return nil
}

// readLine reads one line from r, without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password given")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// usersRemove removes the user NAME.
func usersRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return onStore("users remove", args, 1, "one user NAME", stderr, func(st auth.Store, pos []string) error {
		err := st.DeleteUser(ctx, pos[0])
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("no user %s: %w", pos[0], err)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed user %s\n", pos[0])
		return nil
	})
}

// usersList lists the users with the time each was added and their
// client-id patterns; never a hash.
func usersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return onStore("users list", args, 0, "", stderr, func(st auth.Store, _ []string) error {
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tCLIENT IDS")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, time.UnixMilli(u.Created).UTC().Format(time.RFC3339), u.ClientIDs)
		}
		return tw.Flush()
	})
}
