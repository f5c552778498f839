package config

import (
	"fmt"
	"io"
	"strings"
)

// writeUsage writes the -h text: each setting with its type, help,
// environment variable and default, as the flag package lays them out.
func writeUsage(w io.Writer, table []Setting) {
	fmt.Fprintf(w, "Usage of mqttless (each flag is also the environment variable MQTTLESS_<NAME>; the flag wins):\n")
	for _, s := range table {
		line := "  -" + s.Name
		if s.typ != "bool" {
			line += " " + s.typ
		}
		line += "\n    \t" + s.Help + " (env " + s.Env() + ")"
		if s.Default != "" {
			if s.typ == "string" {
				line += fmt.Sprintf(" (default %q)", s.Default)
			} else {
				line += " (default " + s.Default + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
}

// MarkdownTable returns the settings as the README's flag table, one row
// per setting.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| flag | type | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range Settings() {
		def := "empty"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s | %s |\n", s.Name, s.typ, def, strings.NewReplacer("|", `\|`, "<", "&lt;").Replace(s.Help))
	}
	return b.String()
}
