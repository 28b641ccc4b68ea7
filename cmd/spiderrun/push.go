package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

func init() { register(newPushCmd) }

// maxTaskLine bounds one line of a --data file (the worker's own entry limit
// is the same 1 MiB).
const maxTaskLine = 1 << 20

func newPushCmd() *cobra.Command {
	var (
		data      string
		key       string
		overrides []string
	)
	cmd := &cobra.Command{
		Use:   "push SPEC (URL... | --data FILE)",
		Short: "Enqueue tasks on a RedisSpider's redis_key",
		Long: `Push adds tasks to the spec's redis_key (the first key when it lists
several; --key picks another) on the server of REDIS_URL. A task is a URL, or
one line of FILE (JSON Lines: {"url": ..., "method": ..., "headers": ...,
"body"/"data": ..., "meta": ...}, or anything the spider's
make_request_from_data understands). FILE "-" reads standard input. The key is
a list, or a set / sorted set with REDIS_START_URLS_AS_SET / _AS_ZSET (a sorted
set scores each JSON task by its "priority").`,
		Example: `  spiderrun push spider.yaml https://quotes.toscrape.com/page/1/
  spiderrun push spider.yaml --data tasks.jsonl -s REDIS_URL=redis://10.0.0.5:6379/0`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			urls := args[1:]
			if (len(urls) == 0) == (data == "") {
				return usageErr(errors.New("push: give task URLs or --data FILE (not both)"))
			}
			t, err := loadRedisTarget(args[0], overrides)
			if err != nil {
				return err
			}
			var entries [][]byte
			for _, u := range urls {
				// A URL argument must be a usable URL; --data lines may be
				// anything the spider's make_request_from_data accepts.
				if _, err := redisq.DecodeTask([]byte(u)); err != nil {
					return usageErr(fmt.Errorf("push: %s: %w", u, err))
				}
				entries = append(entries, []byte(u))
			}
			if data != "" {
				entries, err = readTaskLines(cmd.InOrStdin(), data)
				if err != nil {
					return usageErr(err)
				}
			}
			target := t.keys[0]
			if key != "" {
				target = redisq.ExpandKey(key, t.prefix)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			rdb, err := t.dial(ctx)
			if err != nil {
				return err
			}
			defer rdb.Close()
			n, err := redisq.Push(ctx, rdb, target, t.kind, entries)
			if err != nil {
				return failErr(fmt.Errorf("redis %s: %w", weburl.Redact(t.url), err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %d tasks to %s (%s)\n", n, target, t.kind)
			if skipped := int64(len(entries)) - n; skipped > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d tasks were already in the %s\n", skipped, t.kind)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "read tasks from FILE, one per line (JSON Lines or URLs); - for stdin")
	cmd.Flags().StringVar(&key, "key", "", "push to this key instead of the spec's redis_key ({name} = spider name)")
	cmd.Flags().StringArrayVarP(&overrides, "set", "s", nil, "override a setting (KEY=VALUE), e.g. REDIS_URL")
	return cmd
}

// readTaskLines reads non-blank lines; an over-long line is an error that
// names the file and line.
func readTaskLines(stdin io.Reader, path string) ([][]byte, error) {
	var r io.Reader = stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("push --data: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxTaskLine)
	var out [][]byte
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		out = append(out, bytes.Clone(b))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: task line longer than %d bytes", name, line+1, maxTaskLine)
		}
		return nil, fmt.Errorf("push --data %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("push --data %s: no tasks (the file is empty)", name)
	}
	return out, nil
}
