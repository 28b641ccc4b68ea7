package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/runtime/health"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/statsnap"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var (
		asJSON    bool
		overrides []string
	)
	cmd := &cobra.Command{
		Use:   "status SPEC",
		Short: "Show a Redis crawl's state: queue, tasks, leases per worker, dupefilter, items",
		Long: `Status reads the spec's keys on REDIS_URL without changing anything and
prints the pending requests, the tasks waiting in each redis_key, the requests
in flight (leases) per worker, the live workers, the dupefilter size (an
estimate for DUPEFILTER: bloom), the items in REDIS_ITEMS_KEY and the number
of rejected task entries, and every worker's live figures (pages, items,
errors, pages per minute) from the stats snapshot each worker stores in Redis
every STATS_SNAPSHOT_INTERVAL, with their totals.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadRedisTarget(args[0], overrides)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			rdb, err := t.dial(ctx)
			if err != nil {
				return err
			}
			defer rdb.Close()
			st, err := redisq.ReadStatus(ctx, rdb, redisq.StatusOptions{
				Name: t.spec.Name, StartKeys: t.keys, Kind: t.kind, ItemsKey: t.itemsKey,
				QueueKey: t.v.SchedulerQueueKey, DupefilterKey: t.v.SchedulerDupefilterKey,
			})
			if err != nil {
				return failErr(fmt.Errorf("redis %s: %w", weburl.Redact(t.url), err))
			}
			if asJSON {
				b, err := st.JSON()
				if err != nil {
					return failErr(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			fmt.Fprint(cmd.OutOrStdout(), st.Text())
			fmt.Fprint(cmd.OutOrStdout(), workerStatsText(st.WorkerStats, time.Now()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringArrayVarP(&overrides, "set", "s", nil, "override a setting (KEY=VALUE), e.g. REDIS_URL")
	return cmd
}

// workerStatsText renders the workers' snapshots (redisq.Status.WorkerStats)
// as a table, one row per worker and a total: pages, items, errors, pages
// per minute (since the worker's previous snapshot; the total adds the
// running workers' only, a closed worker's figure being its average) and
// the snapshot's age, or the close reason of a worker that closed.
func workerStatsText(raw map[string]json.RawMessage, now time.Time) string {
	if len(raw) == 0 {
		return "worker stats: none (a worker stores its snapshot every STATS_SNAPSHOT_INTERVAL while it runs)\n"
	}
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	w := len("total")
	for _, id := range ids {
		w = max(w, len(id))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "worker stats: %d workers\n", len(ids))
	row := func(id, pages, items, errs, rate, state string) {
		line := fmt.Sprintf("  %-*s  %8s  %8s  %7s  %9s  %s", w, id, pages, items, errs, rate, state)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	row("worker", "pages", "items", "errors", "pages/min", "state")
	var pages, items, errs int64
	var rate float64
	for _, id := range ids {
		var s statsnap.Snapshot
		if err := json.Unmarshal(raw[id], &s); err != nil {
			row(id, "", "", "", "", "unreadable snapshot: "+err.Error())
			continue
		}
		p := s.Progress
		pages, items, errs = pages+p.Pages, items+p.Items, errs+p.Errors
		state := "running, snapshot " + max(0, now.Sub(s.Time)).Round(time.Second).String() + " old"
		if s.Running {
			rate += p.PagesPerMin
		} else {
			state = "closed: " + s.Reason
		}
		row(id, fmt.Sprint(p.Pages), fmt.Sprint(p.Items), fmt.Sprint(p.Errors), fmt.Sprintf("%.1f", p.PagesPerMin), state)
	}
	row("total", fmt.Sprint(pages), fmt.Sprint(items), fmt.Sprint(errs), fmt.Sprintf("%.1f", rate), "")
	b.WriteString(domainHealthText(raw, ids))
	return b.String()
}

// statusDomains is how many domains status lists: the busiest over all
// workers.
const statusDomains = 10

// domainHealthText sums the workers' per-domain health rows (each
// snapshot carries its worker's busiest domains) into one table, the
// busiest first: requests, ok, blocked, failed, mean latency, and
// "degraded" when any worker reports the domain degraded.
func domainHealthText(raw map[string]json.RawMessage, ids []string) string {
	sum := map[string]*health.Row{}
	for _, id := range ids {
		var s statsnap.Snapshot
		if json.Unmarshal(raw[id], &s) != nil {
			continue
		}
		for _, d := range s.Domains {
			r := sum[d.Domain]
			if r == nil {
				r = &health.Row{Domain: d.Domain}
				sum[d.Domain] = r
			}
			// avg_latency_ms is over ok and blocked responses: weigh it back.
			n := float64(d.OK + d.Blocked)
			total := r.LatencyMS*float64(r.OK+r.Blocked) + d.LatencyMS*n
			r.Requests, r.OK, r.Blocked, r.Failed, r.Bytes = r.Requests+d.Requests, r.OK+d.OK, r.Blocked+d.Blocked, r.Failed+d.Failed, r.Bytes+d.Bytes
			if m := r.OK + r.Blocked; m > 0 {
				r.LatencyMS = total / float64(m)
			}
			r.Degraded = r.Degraded || d.Degraded
		}
	}
	if len(sum) == 0 {
		return ""
	}
	rows := make([]*health.Row, 0, len(sum))
	for _, r := range sum {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *health.Row) int {
		if a.Requests != b.Requests {
			return int(b.Requests - a.Requests)
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "domain health (all workers, the %d busiest):\n", min(len(rows), statusDomains))
	for _, r := range rows[:min(len(rows), statusDomains)] {
		state := ""
		if r.Degraded {
			state = "  DEGRADED"
		}
		fmt.Fprintf(&b, "  %s: requests=%d ok=%d blocked=%d failed=%d avg_latency_ms=%.1f%s\n", r.Domain, r.Requests, r.OK, r.Blocked, r.Failed, r.LatencyMS, state)
	}
	return b.String()
}
