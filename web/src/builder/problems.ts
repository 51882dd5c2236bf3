// What a flow problem's code means, in a sentence for the person editing the flow. The server's codes
// (src/whatsapp_builder/flows/validation.py, chatbots/service.py) are for programs; the Problems tab leads with
// these and keeps the code as a small detail (someone reporting a bug, or reading docs/flows.md, can quote it).

const TITLES: Record<string, string> = {
  // the file's shape (an import or a hand-written file)
  invalid_nodes: "The flow's list of nodes is not in the right form",
  invalid_node: 'A node is not in the right form',
  invalid_edges: "The flow's list of connections is not in the right form",
  invalid_edge: 'A connection is not in the right form',
  duplicate_node_id: 'Two nodes have the same id',
  duplicate_edge_id: 'Two connections have the same id',
  unknown_node_type: 'The editor does not know this kind of node',
  // a node's own settings
  invalid_node_data: 'A setting of this node is missing or not valid',
  duplicate_option_id: 'Two buttons or rows have the same id',
  blank_title: 'A button or row has no title',
  too_many_rows: 'This list has more rows than WhatsApp allows',
  missing_section_title: 'A section of this list needs a title',
  missing_options: 'This question accepts listed answers but lists none',
  missing_pattern: 'This question checks answers against a pattern but has none',
  invalid_regex: 'A pattern (regular expression) cannot be used',
  too_many_patterns: "The flow's patterns are too large to check together",
  invalid_range: 'The smallest allowed value is above the largest',
  missing_rule_value: 'A condition rule has nothing to compare with',
  invalid_url: 'A web address cannot be used',
  template_syntax: 'A {{variable}} placeholder is not written right',
  duplicate_title: 'Two buttons or rows have the same title',
  // the connections
  missing_start_node: 'The flow has no start node',
  multiple_start_nodes: 'The flow has more than one start node',
  edge_source_missing: 'A connection comes from a node that is not there',
  edge_target_missing: 'A connection goes to a node that is not there',
  invalid_source_handle: 'A connection leaves from an exit this node does not have',
  duplicate_edge: 'An exit of this node has more than one connection',
  jump_target_missing: 'This jump goes to a node that is not there',
  unreachable_node: 'Nothing leads to this node',
  no_way_out: 'This node waits for an answer, then has nowhere to go',
  unconnected_option: 'A button or row leads nowhere (choosing it ends the conversation)',
  endless_loop: 'These nodes loop without ever waiting for the customer',
  timer_loop: 'These nodes loop with a delay, without ever waiting for the customer',
  // the chatbot's settings
  handoff_node_missing: 'The hand-off step in the settings is not a hand-off node of this flow',
  handoff_keyword_is_trigger: 'A hand-off keyword also starts this chatbot',
  handoff_without_message: 'Hand-off keywords hand the customer over without a word',
  // other chatbots
  keyword_taken: 'Another chatbot already answers one of its keywords',
};

/** A sentence saying what kind of problem `code` is; for a code this list does not know, a general one. */
export function problemTitle(code: string, level: 'error' | 'warning' = 'error'): string {
  return TITLES[code] ?? (level === 'warning' ? 'Something to check in the flow' : 'Something to fix in the flow');
}
