package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the metadata database",
	}
	var uri, dataDir string
	up := &cobra.Command{
		Use:   "upgrade",
		Short: "Apply the database's pending schema migrations",
		Long: `Apply the pending schema migrations of the metadata database, as ` + "`lode server`" + `
does when it starts, and print the schema version. Migrations are versioned
and each runs once; on PostgreSQL they run in one transaction behind a lock,
so servers starting at the same time take turns. A database migrated by a
newer lode is refused. The database is --backend-store-uri, else lode.db in
--data-dir, as for lode server.`,
		Example: `  lode db upgrade --data-dir /srv/lode
  lode db upgrade --backend-store-uri postgresql://lode:secret@db.internal:5432/lode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if uri == "" {
				var err error
				if uri, err = sqliteURIIn(resolveDataDir(dataDir)); err != nil {
					return err
				}
			}
			db, _, err := openMetadata(ctx, uri, "mlflow-artifacts:", "FULL")
			if err != nil {
				return err
			}
			defer db.Close()
			v, err := db.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema version %d, up to date\n", redactURI(uri), v)
			return nil
		},
	}
	up.Flags().StringVar(&uri, "backend-store-uri", "", "the metadata store, as lode server takes it (default: "+dataDB+" in --data-dir)")
	up.Flags().StringVar(&dataDir, "data-dir", "", "lode server's data directory (default $"+dataDirEnv+", else "+defaultDataDir+")")
	cmd.AddCommand(up)
	return cmd
}
