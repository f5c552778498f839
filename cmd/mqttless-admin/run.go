package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// usage is the command's synopsis, printed for a missing or unknown
// command.
const usage = `usage: mqttless-admin COMMAND [flags]

  create-tables [-template FILE] [-table NAME]
      create the DynamoDB table template.yaml defines, when missing
  users add NAME [-password-stdin | -password P] [-replace] [-client-ids PATTERN]
      add a user (or, with -replace, set a user's password); the password
      is read as one line from standard input
  users set NAME -client-ids PATTERN
      set the pattern the user's client ids must match: * stands for any
      characters, %u for the username (%u, %u-*); empty: the broker's
      default
  users remove NAME
      remove a user; its connections are closed within the broker's
      -auth-cache
  users list
      list the users: name, creation time and client-id pattern
  acl add [-user U] [-client C] -access publish|subscribe|both -filter F [-deny]
      add an access rule; %u and %c in the filter stand for the username
      and the client id; once any rule exists, what no rule allows is
      denied; -client and %c apply only to a client id bound to its user
      (equal to the username, or matching a pattern with %u)
  acl remove ID
  acl list

users and acl work on the store of -store bolt (the file in -data-dir;
while a broker runs on it, through the broker's admin socket there) or
-store dynamo (the table
-table, through the standard AWS environment, AWS_ENDPOINT_URL for an
emulator); the environment variables MQTTLESS_STORE, MQTTLESS_DATA_DIR and
MQTTLESS_TABLE set their defaults.`

// run runs the command of args, reading a password from stdin, writing
// results to stdout and usage and warnings to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, usage+"\n")
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch {
	case cmd == "create-tables":
		return createTables(ctx, rest, stdout, stderr)
	case cmd == "users" && sub == "add":
		return usersAdd(ctx, rest[1:], stdin, stdout, stderr)
	case cmd == "users" && sub == "set":
		return usersSet(ctx, rest[1:], stdout, stderr)
	case cmd == "users" && sub == "remove":
		return usersRemove(ctx, rest[1:], stdout, stderr)
	case cmd == "users" && sub == "list":
		return usersList(ctx, rest[1:], stdout, stderr)
	case cmd == "acl" && sub == "add":
		return aclAdd(ctx, rest[1:], stdout, stderr)
	case cmd == "acl" && sub == "remove":
		return aclRemove(ctx, rest[1:], stdout, stderr)
	case cmd == "acl" && sub == "list":
		return aclList(ctx, rest[1:], stdout, stderr)
	}
	io.WriteString(stderr, usage+"\n")
	switch cmd {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	case "users", "acl":
		if cmd == "users" {
			return fmt.Errorf("users: want add, set, remove or list, not %q", sub)
		}
		return fmt.Errorf("%s: want add, remove or list, not %q", cmd, sub)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// parse parses args with fs, flags and positional arguments in any order,
// and returns the positional ones, which must number want.
func parse(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != want {
		if want == 0 {
			return nil, fmt.Errorf("%s: unexpected argument %q", fs.Name(), pos[0])
		}
		return nil, fmt.Errorf("%s: want %s", fs.Name(), what)
	}
	return pos, nil
}
