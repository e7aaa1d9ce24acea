// Command promql prints the metric names each PromQL expression on its
// standard input (one per line) selects, one line of space-separated names
// per expression; a line that does not parse is an error. The chart test
// checks with it that every metric the alert rules and the dashboard name
// exists on a running replica.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(line)
		if err != nil {
			fmt.Fprintf(os.Stderr, "promql: %q: %v\n", line, err)
			os.Exit(1)
		}
		names := map[string]bool{}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				for _, m := range vs.LabelMatchers {
					if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
						names[m.Value] = true
					}
				}
			}
			return nil
		})
		var out []string
		for n := range names {
			out = append(out, n)
		}
		sort.Strings(out)
		fmt.Println(strings.Join(out, " "))
	}
}
