package spidermw

import (
	"log/slog"

	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// RefererFromSettings reads REFERER_ENABLED.
func RefererFromSettings(v *settings.Values) *Referer {
	return &Referer{SetHeader: v.RefererEnabled}
}

// DepthFromSettings reads DEPTH_LIMIT, DEPTH_PRIORITY and
// DEPTH_STATS_VERBOSE.
func DepthFromSettings(v *settings.Values, st stats.Collector, logger *slog.Logger) *Depth {
	return NewDepth(v.DepthLimit, v.DepthPriority, v.DepthStatsVerbose, st, logger)
}
