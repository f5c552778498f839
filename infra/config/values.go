package config

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/infra/invocation"
)

// value is a setting's type: the name -h shows, the default as the flag
// takes it, and parse, which checks a value and stores it, returning why
// it is bad ("" when it is good).
type value struct {
	typ     string
	Default string
	parse   func(s string) (why string)
}

// uintOf is a whole number from lo to hi.
func uintOf[T ~uint16 | ~uint32 | ~int | ~int64](p *T, def T, lo, hi uint64) value {
	return value{"uint", strconv.FormatUint(uint64(def), 10), func(s string) string {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v < lo || v > hi {
			return fmt.Sprintf("want a whole number from %d to %d", lo, hi)
		}
		*p = T(v)
		return ""
	}}
}

// durationOf is a positive duration, or also 0 when zeroOff (0 turns the
// setting off).
func durationOf(p *time.Duration, def time.Duration, zeroOff bool) value {
	return value{"duration", def.String(), func(s string) string {
		v, err := time.ParseDuration(s)
		switch {
		case zeroOff && (err != nil || v < 0):
			return "want 0 or a positive duration such as 500ms or 10s"
		case !zeroOff && (err != nil || v <= 0):
			return "want a positive duration such as 500ms or 10s"
		}
		*p = v
		return ""
	}}
}

// rateOf is a rate per second: 0 (unlimited) or a positive number.
func rateOf(p *float64, def float64) value {
	return value{"float", strconv.FormatFloat(def, 'g', -1, 64), func(s string) string {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return "want 0 (unlimited) or a positive number per second"
		}
		*p = v
		return ""
	}}
}

// boolOf is true or false, given as -name, -name=VALUE or -name VALUE.
func boolOf(p *bool, def bool) value {
	return value{"bool", strconv.FormatBool(def), func(s string) string {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return "want true or false"
		}
		*p = v
		return ""
	}}
}

// stringOf is any string that check (when not nil) accepts.
func stringOf(p *string, def string, check func(string) string) value {
	return value{"string", def, func(s string) string {
		if check != nil {
			if why := check(s); why != "" {
				return why
			}
		}
		*p = s
		return ""
	}}
}

// checkClientIDPattern accepts a client-id pattern auth accepts.
func checkClientIDPattern(s string) string {
	if err := auth.ValidateClientIDPattern(s); err != nil {
		return err.Error()
	}
	return ""
}

func nonEmpty(s string) string {
	if s == "" {
		return "must not be empty"
	}
	return ""
}

// oneOf is one of choices.
func oneOf(p *string, def string, choices ...string) value {
	want := "want " + strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
	return stringOf(p, def, func(s string) string {
		for _, c := range choices {
			if s == c {
				return ""
			}
		}
		return want
	})
}

// levelOf is a log/slog level.
func levelOf(p *slog.Level, def slog.Level) value {
	return value{"string", strings.ToLower(def.String()), func(s string) string {
		if err := p.UnmarshalText([]byte(s)); err != nil {
			return "want debug, info, warn or error"
		}
		return ""
	}}
}

// functionsOf is a list of handler functions, as
// invocation.ParseFunctions reads it.
func functionsOf(p *map[invocation.Group][]invocation.Target, def string) value {
	return value{"string", def, func(s string) string {
		fns, err := invocation.ParseFunctions(s)
		if err != nil {
			return err.Error()
		}
		*p = fns
		return ""
	}}
}

// secretOf is a secret, kept as bytes; its length is checked with the
// setting that needs it.
func secretOf(p *[]byte) value {
	return value{"string", "", func(s string) string {
		*p = []byte(s)
		return ""
	}}
}
