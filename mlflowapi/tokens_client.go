package mlflowapi

import (
	"context"
	"net/http"
	"net/url"
)

// Token is a token as the tokens API shows it (never its secret, but
// once, when it is made).
type Token struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Username   string `json:"username"`
	Kind       string `json:"kind"`
	CreatedMs  int64  `json:"created_ms"`
	ExpiresMs  int64  `json:"expires_ms,omitempty"`
	LastUsedMs int64  `json:"last_used_ms,omitempty"`
	JobID      string `json:"job_id,omitempty"`
}

// CreateToken makes a token for the caller (or, for an admin, for
// username) that expires after days (0: never; nil: the server's default)
// and returns it with its secret.
func (c *Client) CreateToken(ctx context.Context, name, username string, days *int) (*Token, string, error) {
	in := map[string]any{"name": name}
	if username != "" {
		in["username"] = username
	}
	if days != nil {
		in["expires_in_days"] = *days
	}
	var out struct {
		Token  Token  `json:"token"`
		Secret string `json:"secret"`
	}
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/tokens/create", nil, in, &out); err != nil {
		return nil, "", err
	}
	return &out.Token, out.Secret, nil
}

// ListTokens lists the caller's tokens, username's (admins), or every
// user's (all, admins).
func (c *Client) ListTokens(ctx context.Context, username string, all bool) ([]Token, error) {
	q := url.Values{}
	if username != "" {
		q.Set("username", username)
	}
	if all {
		q.Set("all", "true")
	}
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/tokens/list", q, nil, &out)
	return out.Tokens, err
}

// RevokeToken deletes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.callPath(ctx, http.MethodPost, "/api/2.0/lode/tokens/revoke", nil, map[string]string{"id": id}, nil)
}
