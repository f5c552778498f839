package dynamo

// Users and rules (auth.Store) live in the same table as the sessions:
// the package documentation ("Users and rules") gives their items and the
// calls each method makes, keys.go their keys.

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/auth"
)

var _ auth.Store = (*Store)(nil)

// authUserItem is an auth.User, as the user item and as its entry in the
// user list, which differ only in their keys.
type authUserItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Name    string `dynamodbav:"name"`
	Hash    []byte `dynamodbav:"hash,omitempty"`
	Created int64  `dynamodbav:"created"`
	// ClientIDs is auth.User.ClientIDs.
	ClientIDs string `dynamodbav:"clientIds,omitempty"`
}

func toAuthUserItem(u *auth.User, pk, sk string) authUserItem {
	return authUserItem{PK: pk, SK: sk, Name: u.Name, Hash: clone(u.Hash), Created: u.Created, ClientIDs: u.ClientIDs}
}

func (it *authUserItem) user() *auth.User {
	return &auth.User{Name: it.Name, Hash: it.Hash, Created: it.Created, ClientIDs: it.ClientIDs}
}

// ruleItem is an auth.Rule.
type ruleItem struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	ID       string `dynamodbav:"id"`
	User     string `dynamodbav:"user,omitempty"`
	ClientID string `dynamodbav:"client,omitempty"`
	Access   string `dynamodbav:"access"`
	Filter   string `dynamodbav:"filter"`
	Deny     bool   `dynamodbav:"deny,omitempty"`
}

func toRuleItem(r *auth.Rule) ruleItem {
	return ruleItem{
		PK: rulesPK, SK: ruleSK(r.ID), ID: r.ID, User: r.User, ClientID: r.ClientID,
		Access: string(r.Access), Filter: r.Filter, Deny: r.Deny,
	}
}

func (it *ruleItem) rule() auth.Rule {
	return auth.Rule{
		ID: it.ID, User: it.User, ClientID: it.ClientID, Access: auth.Access(it.Access),
		Filter: it.Filter, Deny: it.Deny,
	}
}

// validAuthKey reports whether s can be a user name or rule ID: not empty,
// UTF-8 (the SDK would change it otherwise), and short enough for a key.
// No user or rule has a name or ID that is not.
func validAuthKey(s string) bool {
	return s != "" && len(s) <= maxAuthKey && utf8.ValidString(s)
}

// User implements auth.Store: one strongly consistent GetItem.
func (st *Store) User(ctx context.Context, name string) (*auth.User, error) {
	if !validAuthKey(name) {
		return nil, fmt.Errorf("dynamo: user %q: %w", name, auth.ErrNotFound)
	}
	item, err := st.getItem(ctx, userPK(name), userSK)
	if err != nil {
		return nil, fmt.Errorf("dynamo: user %q: %w", name, err)
	}
	if item == nil {
		return nil, fmt.Errorf("dynamo: user %q: %w", name, auth.ErrNotFound)
	}
	var it authUserItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return nil, fmt.Errorf("dynamo: decode user %q: %w", name, err)
	}
	return it.user(), nil
}

// PutUser implements auth.Store: one TransactWriteItems of the user item
// (conditioned on attribute_not_exists without replace) and its list
// entry. The SDK gives the transaction an idempotency token, so its own
// retry of a write that succeeded unseen does not fail the condition.
func (st *Store) PutUser(ctx context.Context, u *auth.User, replace bool) error {
	if err := auth.CheckStorableUser(u, maxAuthKey); err != nil {
		return fmt.Errorf("dynamo: put user: %w", err)
	}
	userAV, err := attributevalue.MarshalMap(toAuthUserItem(u, userPK(u.Name), userSK))
	if err != nil {
		return fmt.Errorf("dynamo: encode user %q: %w", u.Name, err)
	}
	listAV, err := attributevalue.MarshalMap(toAuthUserItem(u, usersPK, userListSK(u.Name)))
	if err != nil {
		return fmt.Errorf("dynamo: encode user %q: %w", u.Name, err)
	}
	put := &types.Put{TableName: &st.table, Item: userAV}
	if !replace {
		put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		put.ExpressionAttributeNames = map[string]string{"#pk": attrPK}
	}
	ops := []types.TransactWriteItem{{Put: put}, {Put: &types.Put{TableName: &st.table, Item: listAV}}}
	err = st.transactAuth(ctx, ops)
	if errors.Is(err, errCondFailed) {
		return fmt.Errorf("dynamo: put user %q: %w", u.Name, auth.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("dynamo: put user %q: %w", u.Name, err)
	}
	return nil
}

// DeleteUser implements auth.Store: one TransactWriteItems deleting the
// user item (conditioned on attribute_exists) and its list entry.
func (st *Store) DeleteUser(ctx context.Context, name string) error {
	if !validAuthKey(name) {
		return fmt.Errorf("dynamo: delete user %q: %w", name, auth.ErrNotFound)
	}
	ops := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &st.table, Key: key(userPK(name), userSK),
			ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
		{Delete: &types.Delete{TableName: &st.table, Key: key(usersPK, userListSK(name))}},
	}
	err := st.transactAuth(ctx, ops)
	if errors.Is(err, errCondFailed) {
		return fmt.Errorf("dynamo: delete user %q: %w", name, auth.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: delete user %q: %w", name, err)
	}
	return nil
}

// errCondFailed is what transactAuth returns when the condition of the
// transaction's first item failed.
var errCondFailed = errors.New("dynamo: condition failed")

// transactAuth runs a transaction of a user's items whose first item may
// carry a condition, retrying it when it was canceled for another reason
// (a conflict with a concurrent transaction on the same items). It returns
// errCondFailed when the condition failed.
func (st *Store) transactAuth(ctx context.Context, ops []types.TransactWriteItem) error {
	for try := 0; try < maxTries; try++ {
		err := st.transact(ctx, ops)
		reasons := canceled(err)
		if reasons == nil {
			return err
		}
		if failedAt(reasons, 0) {
			return errCondFailed
		}
		if err := backoff(ctx, try); err != nil {
			return err
		}
	}
	return errContended
}

// Users implements auth.Store: one Query of the user list, page by page,
// strongly consistent.
func (st *Store) Users(ctx context.Context) ([]*auth.User, error) {
	items, err := st.queryPartition(ctx, usersPK)
	if err != nil {
		return nil, fmt.Errorf("dynamo: users: %w", err)
	}
	out := make([]*auth.User, 0, len(items))
	for _, item := range items {
		var it authUserItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("dynamo: decode user %v: %w", item[attrSK], err)
		}
		out = append(out, it.user())
	}
	return out, nil
}

// Rules implements auth.Store: one Query of the ACL partition, page by
// page, strongly consistent.
func (st *Store) Rules(ctx context.Context) ([]auth.Rule, error) {
	items, err := st.queryPartition(ctx, rulesPK)
	if err != nil {
		return nil, fmt.Errorf("dynamo: rules: %w", err)
	}
	out := make([]auth.Rule, 0, len(items))
	for _, item := range items {
		var it ruleItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("dynamo: decode rule %v: %w", item[attrSK], err)
		}
		out = append(out, it.rule())
	}
	return out, nil
}

// queryPartition returns every item of partition pk, in sort key order.
func (st *Store) queryPartition(ctx context.Context, pk string) ([]map[string]types.AttributeValue, error) {
	return st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
	}, 0)
}

// PutRule implements auth.Store: one PutItem, conditioned on
// attribute_not_exists when it assigns the ID (16 random hex digits), so
// that it never replaces another rule.
func (st *Store) PutRule(ctx context.Context, r auth.Rule) (string, error) {
	if err := auth.CheckStorableRule(r, maxAuthKey); err != nil {
		return "", fmt.Errorf("dynamo: put rule: %w", err)
	}
	if r.ID != "" {
		if err := st.putRule(ctx, &r, false); err != nil {
			return "", fmt.Errorf("dynamo: put rule %q: %w", r.ID, err)
		}
		return r.ID, nil
	}
	for try := 0; try < maxTries; try++ {
		r.ID = auth.NewRuleID()
		err := st.putRule(ctx, &r, true)
		if condFailed(err) {
			// The ID is taken, by another rule (draw another ID) or by
			// this very rule, when the SDK retried a put whose answer was
			// lost.
			mine, err := st.isRule(ctx, r)
			if err != nil {
				return "", fmt.Errorf("dynamo: put rule %q: %w", r.ID, err)
			}
			if mine {
				return r.ID, nil
			}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("dynamo: put rule %q: %w", r.ID, err)
		}
		return r.ID, nil
	}
	return "", fmt.Errorf("dynamo: put rule: %w", errContended)
}

// putRule writes the item of r; with isNew, only if no rule has its ID.
func (st *Store) putRule(ctx context.Context, r *auth.Rule, isNew bool) error {
	av, err := attributevalue.MarshalMap(toRuleItem(r))
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	in := &dynamodb.PutItemInput{Item: av}
	if isNew {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": attrPK}
	}
	_, err = st.put(ctx, in)
	return err
}

// isRule reports whether the rule stored under r.ID is r.
func (st *Store) isRule(ctx context.Context, r auth.Rule) (bool, error) {
	item, err := st.getItem(ctx, rulesPK, ruleSK(r.ID))
	if err != nil || item == nil {
		return false, err
	}
	var it ruleItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	return it.rule() == r, nil
}

// DeleteRule implements auth.Store: a TransactWriteItems of one item, the
// rule's deletion conditioned on attribute_exists. Not a DeleteItem: when
// the answer to a delete is lost on its way (a dropped connection), the
// SDK sends it again, and a DeleteItem's condition then fails on the
// deletion it made itself, so that a rule just deleted would be "not
// found". The transaction's idempotency token makes the resend answer as
// the first call did.
func (st *Store) DeleteRule(ctx context.Context, id string) error {
	if !validAuthKey(id) {
		return fmt.Errorf("dynamo: delete rule %q: %w", id, auth.ErrNotFound)
	}
	ops := []types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: key(rulesPK, ruleSK(id)),
		ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK}}}}
	err := st.transactAuth(ctx, ops)
	if errors.Is(err, errCondFailed) {
		return fmt.Errorf("dynamo: delete rule %q: %w", id, auth.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: delete rule %q: %w", id, err)
	}
	return nil
}
