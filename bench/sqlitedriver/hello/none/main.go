// Command none is the baseline hello-world (database/sql, no driver) for
// docs/storage.md's binary size comparison.
package main

import (
	"database/sql"
	"fmt"
)

func main() {
	fmt.Println("hello", sql.Drivers())
}
