package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// newFingerprintListCmd lists the shipped profiles with what each rests
// on: captured from the real browser (evidence kept in the repository) or
// derived (made from something else, never picked by random).
func newFingerprintListCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the shipped impersonation profiles: captured or derived, aliases, random",
		Long: `list prints every shipped profile: its browser and version, whether it was
captured from the real browser (the capture is kept in the repository and
a test replays our client against it) or derived (made from utls parrots,
published captures or another profile, not measured against the browser),
the aliases that name it and whether "random" may pick it (captured
profiles only). -v adds where each profile comes from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			byTarget := map[string][]string{}
			for a, p := range impersonate.Aliases() {
				byTarget[p] = append(byTarget[p], a)
			}
			random := impersonate.RandomChoices()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tBROWSER\tVERSION\tORIGIN\tALIAS\tRANDOM")
			var notes []string
			for _, name := range impersonate.Profiles() {
				p, err := impersonate.LoadProfile(name)
				if err != nil {
					return failErr(err)
				}
				if p.Name != name || name == impersonate.Random {
					continue // an alias, or random: listed with their targets
				}
				origin := "captured"
				switch {
				case p.Derived != "":
					origin = "derived"
				case p.Browser == "go":
					origin = "plain Go"
				}
				slices.Sort(byTarget[name])
				alias := strings.Join(byTarget[name], ",")
				if alias == "" {
					alias = "-"
				}
				rnd := "no"
				if slices.Contains(random, name) {
					rnd = "yes"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Browser, p.Version, origin, alias, rnd)
				if verbose {
					note := p.Source
					if p.Derived != "" {
						note = "derived: " + p.Derived
					}
					notes = append(notes, name+": "+note)
				}
			}
			if err := w.Flush(); err != nil {
				return failErr(err)
			}
			for _, n := range notes {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print each profile's source")
	return cmd
}
