package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
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
of rejected task entries.`,
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
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringArrayVarP(&overrides, "set", "s", nil, "override a setting (KEY=VALUE), e.g. REDIS_URL")
	return cmd
}
