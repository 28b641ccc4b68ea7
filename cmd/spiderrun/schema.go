package main

import (
	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/schema"
)

func init() { register(newSchemaCmd) }

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of spider.yaml",
		Long: `Schema prints the JSON Schema (2020-12) of the spec format. Editors with
the YAML language server use it through a first line such as
  # yaml-language-server: $schema=spider.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(schema.JSON())
			return err
		},
	}
}
