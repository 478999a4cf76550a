# Demo agent: reads the conversation, writes a note to the outbox, replies.
cat > /tmp/payload.json
bytes=$(wc -c < /tmp/payload.json | tr -d ' ')
outbox="/spaces/$SPACE_ID/outbox"
mkdir -p "$outbox"
{
  echo "# Turn summary"
  echo
  echo "- space: $SPACE_ID"
  echo "- caller: $CALLER_ID"
  echo "- payload: $bytes bytes of JSON on stdin"
  echo "- host API: $API_URL"
} > "$outbox/summary.md"
echo "---MERCURY_CONTAINER_RESULT_START---"
echo "{\"reply\":\"Hello from the demo agent in container $(hostname). I read $bytes bytes of conversation and left summary.md in your outbox.\"}"
echo "---MERCURY_CONTAINER_RESULT_END---"
