package engine_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinth-dev/plinth/internal/spec"
	"github.com/plinth-dev/plinth/internal/store"
	"github.com/plinth-dev/plinth/internal/store/pgtest"
	"github.com/plinth-dev/plinth/internal/store/postgres"
	"github.com/plinth-dev/plinth/internal/store/sqlite"
)

// Every test of this package runs on SQLite as written, and again on PostgreSQL under
// TestOnPostgres. A test's store is chosen by its name, so the two runs share no state and
// parallel tests stay parallel.

const postgresPrefix = "TestOnPostgres/"

// openStore opens the store for the running test: PostgreSQL, in a fresh schema, under
// TestOnPostgres; SQLite in a temporary folder otherwise.
func openStore(t *testing.T, model *spec.Model) store.Store {
	t.Helper()
	if !strings.HasPrefix(t.Name(), postgresPrefix) {
		db, err := sqlite.Open(context.Background(), t.TempDir(), model, sqlite.Options{})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
		return db
	}
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, model, postgres.Options{Schema: pgtest.Schema(t, url)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// onBoth lists every test of the package, so that TestOnPostgres can run them again;
// TestEveryTestRunsOnPostgres keeps the list complete.
var onBoth = map[string]func(*testing.T){
	"TestAccessDeniedByDefault":                        TestAccessDeniedByDefault,
	"TestAccessList":                                   TestAccessList,
	"TestAccessRuleSeesSystemFields":                   TestAccessRuleSeesSystemFields,
	"TestAccessRules":                                  TestAccessRules,
	"TestLookupReadsUnderTheCallersReadRule":           TestLookupReadsUnderTheCallersReadRule,
	"TestExpressionsNeverFailInternally":               TestExpressionsNeverFailInternally,
	"TestListRuleWithAnIncomparableClaimDenies":        TestListRuleWithAnIncomparableClaimDenies,
	"TestStateMachinesStartAtTheirStart":               TestStateMachinesStartAtTheirStart,
	"TestAccessWriteShorthand":                         TestAccessWriteShorthand,
	"TestComputed":                                     TestComputed,
	"TestConcurrentCreates":                            TestConcurrentCreates,
	"TestConcurrentUniqueCreates":                      TestConcurrentUniqueCreates,
	"TestConcurrentUpdatesWithOnePrecondition":         TestConcurrentUpdatesWithOnePrecondition,
	"TestCreateRuleSeesDefaults":                       TestCreateRuleSeesDefaults,
	"TestDefaults":                                     TestDefaults,
	"TestDelete":                                       TestDelete,
	"TestDeleteCascadeInBatch":                         TestDeleteCascadeInBatch,
	"TestDeleteCascadePages":                           TestDeleteCascadePages,
	"TestDeleteCascadeRefusals":                        TestDeleteCascadeRefusals,
	"TestDeleteCascades":                               TestDeleteCascades,
	"TestEnumTransitions":                              TestEnumTransitions,
	"TestEnumTransitionsCannotBeBypassedWithNull":      TestEnumTransitionsCannotBeBypassedWithNull,
	"TestIdempotencyKeysExpireAndAreSwept":             TestIdempotencyKeysExpireAndAreSwept,
	"TestIdempotencyOffIgnoresKeys":                    TestIdempotencyOffIgnoresKeys,
	"TestIdempotencyKeyScope":                          TestIdempotencyKeyScope,
	"TestIdempotencyRequiredWithoutKey":                TestIdempotencyRequiredWithoutKey,
	"TestIdempotencyStoresClientErrors":                TestIdempotencyStoresClientErrors,
	"TestListCursor":                                   TestListCursor,
	"TestListCursorBelongsToItsResource":               TestListCursorBelongsToItsResource,
	"TestListCursorStableUnderWrites":                  TestListCursorStableUnderWrites,
	"TestListExpand":                                   TestListExpand,
	"TestListFieldsProjection":                         TestListFieldsProjection,
	"TestListFilters":                                  TestListFilters,
	"TestListLimit":                                    TestListLimit,
	"TestListPagination":                               TestListPagination,
	"TestListSort":                                     TestListSort,
	"TestNestedTimestampsReadBack":                     TestNestedTimestampsReadBack,
	"TestNewRequiresModelAndStore":                     TestNewRequiresModelAndStore,
	"TestScheduleIsNotStarvedByFailingRecords":         TestScheduleIsNotStarvedByFailingRecords,
	"TestSystemFields":                                 TestSystemFields,
	"TestUnique":                                       TestUnique,
	"TestUnknownResourceIsNotFound":                    TestUnknownResourceIsNotFound,
	"TestUpdateMergePatch":                             TestUpdateMergePatch,
	"TestUpdateNoOpNestedValues":                       TestUpdateNoOpNestedValues,
	"TestUpdateNoOpWritesNothing":                      TestUpdateNoOpWritesNothing,
	"TestUpdatePrecondition":                           TestUpdatePrecondition,
	"TestUpdateRejectsFieldsClientsMayNotWrite":        TestUpdateRejectsFieldsClientsMayNotWrite,
	"TestUpdateReplace":                                TestUpdateReplace,
	"TestValidateFieldValues":                          TestValidateFieldValues,
	"TestValidateGoValues":                             TestValidateGoValues,
	"TestValidateJSONKeepsAnyValue":                    TestValidateJSONKeepsAnyValue,
	"TestValidateOutOfRangeValues":                     TestValidateOutOfRangeValues,
	"TestValidateReportsEveryErrorAtOnce":              TestValidateReportsEveryErrorAtOnce,
	"TestValidateReportsRequiredAndRefsWithTypeErrors": TestValidateReportsRequiredAndRefsWithTypeErrors,
	"TestValidateStoredValues":                         TestValidateStoredValues,
}

func TestOnPostgres(t *testing.T) {
	if os.Getenv("PLINTH_TEST_POSTGRES_URL") == "" {
		t.Fatal("PLINTH_TEST_POSTGRES_URL is not set: the engine's tests run on PostgreSQL too, e.g.\n" +
			"  PLINTH_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./internal/engine")
	}
	for name, test := range onBoth {
		t.Run(name, test)
	}
}

// TestEveryTestRunsOnPostgres fails when a test of this package is missing from onBoth.
func TestEveryTestRunsOnPostgres(t *testing.T) {
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range parsed.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			switch fn.Name.Name {
			case "TestOnPostgres", "TestEveryTestRunsOnPostgres":
				continue
			case "TestRecordValueIsTheRecordsMap": // reads no database
				continue
			}
			if _, ok := onBoth[fn.Name.Name]; !ok {
				t.Errorf("%s (%s) does not run on PostgreSQL: add it to onBoth", fn.Name.Name, f)
			}
		}
	}
}
