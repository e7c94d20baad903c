package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	o := &modelsOpts{command: "lode token"}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens on a Lode server",
		Long: `Manage the bearer tokens that stand for you on a Lode server with
authentication on. A client sends one as MLFLOW_TRACKING_TOKEN (the mlflow
client, lode's own commands, curl -H "Authorization: Bearer ..."). The server
keeps only a hash: a token's secret is printed once, when it is made.

These commands sign in as the mlflow client does: MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD, or an existing token in MLFLOW_TRACKING_TOKEN. The
server is --tracking-uri, else MLFLOW_TRACKING_URI, else
http://127.0.0.1:5000.`,
		Example: `  export MLFLOW_TRACKING_USERNAME=alice MLFLOW_TRACKING_PASSWORD=...
  lode token create laptop --expires 30d
  lode token list
  lode token revoke 3f9c2a1b7d0e4c55`,
	}
	cmd.PersistentFlags().StringVar(&o.trackingURI, "tracking-uri", "", "Lode server URL")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.AddCommand(newTokenCreateCmd(o), newTokenListCmd(o), newTokenRevokeCmd(o))
	return cmd
}

// parseExpiry reads --expires: N days ("90d", "90"), or "never".
func parseExpiry(s string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	if s == "never" {
		zero := 0
		return &zero, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("--expires %q: want a number of days (30d) or never", s)
	}
	return &n, nil
}

func newTokenCreateCmd(o *modelsOpts) *cobra.Command {
	var expires, user string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a token and print its secret (shown this once)",
		Long: `Make a token named NAME (what it is for: laptop, CI, ...) and print its
secret on stdout, alone, so that it can be captured:

  export MLFLOW_TRACKING_TOKEN=$(lode token create ci)

It expires after --expires (default 90 days; never for none). An admin may
make one for another user with --user.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			days, err := parseExpiry(expires)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			t, secret, err := c.CreateToken(cmd.Context(), args[0], user, days)
			if err != nil {
				return err
			}
			if o.json {
				return o.output(cmd, map[string]any{"token": t, "secret": secret}, nil)
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s) for %s, %s; the secret above is not shown again\n",
				t.ID, t.Name, t.Username, expiry(t.ExpiresMs))
			return nil
		},
	}
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime in days (30d) or never (default: the server's, 90 days)")
	cmd.Flags().StringVar(&user, "user", "", "make it for this user (admins only)")
	return cmd
}

func expiry(ms int64) string {
	if ms == 0 {
		return "never expires"
	}
	return "expires " + time.UnixMilli(ms).UTC().Format("2006-01-02 15:04 UTC")
}

func newTokenListCmd(o *modelsOpts) *cobra.Command {
	var user string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tokens (an admin: --user NAME or --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context(), user, all)
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"tokens": ts}, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tUSER\tKIND\tCREATED\tEXPIRES\tLAST USED")
				for _, t := range ts {
					last := "-"
					if t.LastUsedMs > 0 {
						last = time.UnixMilli(t.LastUsedMs).UTC().Format("2006-01-02 15:04")
					}
					exp := "never"
					if t.ExpiresMs > 0 {
						exp = time.UnixMilli(t.ExpiresMs).UTC().Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Username, t.Kind,
						time.UnixMilli(t.CreatedMs).UTC().Format("2006-01-02 15:04"), exp, last)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "list this user's tokens (admins only)")
	cmd.Flags().BoolVar(&all, "all", false, "list every user's tokens (admins only)")
	return cmd
}

func newTokenRevokeCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens: whatever uses them stops working at once",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				if err := c.RevokeToken(cmd.Context(), id); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s\n", id)
			}
			return nil
		},
	}
}
