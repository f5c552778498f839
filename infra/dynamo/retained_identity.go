package dynamo

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// The retained messages of one identity (session.Message.Identity, kept in
// the message's id attribute) are counted in the totals item
// (retainedIdentityPK(identity), retainedTotalsSK), n and b as the table's
// totals item counts every message, for RetainedLimits.IdentityCount and
// IdentityBytes. SetRetained updates it in the transaction that adds,
// replaces or removes a message, conditioned on the message it replaces
// still being recorded with the identity it read (sameRetained), so that
// the message leaves the count of the identity that holds it. Like the
// table's totals, DynamoDB's TTL deletion of an expired message changes no
// count; the store deletes the expired messages it meets with their
// counts (dropRetained), so only messages nobody read for ttlMargin after
// their expiry are left counted.
const retainedIdentityPf = "RI#"

func retainedIdentityPK(identity string) string { return retainedIdentityPf + identity }

// identityOp adds dn messages and db bytes to what identity holds, within
// lim.IdentityCount and IdentityBytes when it grows it.
func (st *Store) identityOp(identity string, dn, db int64, lim session.RetainedLimits) types.TransactWriteItem {
	return st.addTotalsOp(retainedIdentityPK(identity), dn, db, lim.IdentityCount, lim.IdentityBytes)
}

// identityOps returns the updates of the identity totals when a message of
// size bytes recorded with identity replaces the one held (when held) of
// oldSize bytes recorded with oldIdent, or is added: none when it replaces
// one of the same identity and size.
func (st *Store) identityOps(held bool, oldIdent string, oldSize int64, identity string, size int64, lim session.RetainedLimits) []types.TransactWriteItem {
	if held && oldIdent == identity {
		if size == oldSize {
			return nil
		}
		return []types.TransactWriteItem{st.identityOp(identity, 0, size-oldSize, lim)}
	}
	var ops []types.TransactWriteItem
	if held {
		ops = append(ops, st.identityOp(oldIdent, -1, -oldSize, session.RetainedLimits{}))
	}
	return append(ops, st.identityOp(identity, 1, size, lim))
}

// sameRetained returns the condition that a retained message item exists
// and is still recorded with identity oldIdent.
func sameRetained(oldIdent string) (*string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#pk": attrPK, "#msg": "msg", "#id": "id"}
	if oldIdent == "" {
		return aws.String("attribute_exists(#pk) AND attribute_not_exists(#msg.#id)"), names, nil
	}
	return aws.String("attribute_exists(#pk) AND #msg.#id = :oldid"), names,
		map[string]types.AttributeValue{":oldid": str(oldIdent)}
}

// failedFrom reports whether the condition of an item at i or after of a
// canceled transaction failed.
func failedFrom(reasons []types.CancellationReason, i int) bool {
	for ; i < len(reasons); i++ {
		if failedAt(reasons, i) {
			return true
		}
	}
	return false
}
