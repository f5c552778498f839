package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mqttless/mqttless/core/auth"
)

// aclAdd adds an access rule and prints its ID.
func aclAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("acl add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs)
	var r auth.Rule
	var access string
	fs.StringVar(&r.User, "user", "", "the username the rule applies to; empty: any")
	fs.StringVar(&r.ClientID, "client", "", "the client id the rule applies to; empty: any")
	fs.StringVar(&access, "access", "", "what the rule covers: publish, subscribe or both")
	fs.StringVar(&r.Filter, "filter", "", "topic filter; %u stands for the username, %c for the client id")
	fs.BoolVar(&r.Deny, "deny", false, "deny what the rule matches instead of allowing it")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	r.Access = auth.Access(access)
	if err := validateRule(r); err != nil {
		return fmt.Errorf("acl add: %w", err)
	}
	st, closeSt, err := sf.open(stderr, true)
	if err != nil {
		return err
	}
	id, err := st.PutRule(ctx, r)
	if err = errors.Join(err, closeSt()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added rule %s\n", id)
	return nil
}

// validateRule checks the flags of a rule with the broker's own rule
// validation, naming the bad flag.
func validateRule(r auth.Rule) error {
	switch r.Access {
	case auth.Publish, auth.Subscribe, auth.Both:
	default:
		return fmt.Errorf("invalid value %q for -access: want publish, subscribe or both", r.Access)
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("invalid value %q for -filter: %w", r.Filter, err)
	}
	return nil
}

// aclRemove removes the rule ID.
func aclRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return onStore("acl remove", args, 1, "one rule ID", stderr, func(st auth.Store, pos []string) error {
		err := st.DeleteRule(ctx, pos[0])
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("no rule %s: %w", pos[0], err)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed rule %s\n", pos[0])
		return nil
	})
}

// aclList lists the access rules.
func aclList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return onStore("acl list", args, 0, "", stderr, func(st auth.Store, _ []string) error {
		rules, err := st.Rules(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tCLIENT\tACCESS\tFILTER\tEFFECT")
		for _, r := range rules {
			effect := "allow"
			if r.Deny {
				effect = "deny"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, anyIfEmpty(r.User), anyIfEmpty(r.ClientID), r.Access, r.Filter, effect)
		}
		return tw.Flush()
	})
}

func anyIfEmpty(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
