import { screen } from '@testing-library/react';
import { ReactFlowProvider } from '@xyflow/react';
import { describe, expect, it } from 'vitest';
import { renderUI } from '../test/render';
import { FlowStoreContext, type CanvasProblem } from './context';
import { problemTitle } from './problems';
import { ProblemsList } from './ProblemsList';
import { createFlowStore } from './store';

function renderProblems(problems: CanvasProblem[]) {
  const store = createFlowStore({ nodes: [{ id: 'jump_1', type: 'jump', position: { x: 0, y: 0 }, data: {} }], edges: [] });
  return renderUI(
    <ReactFlowProvider>
      <FlowStoreContext.Provider value={store}>
        <ProblemsList problems={problems} validation={null} onShow={() => {}} />
      </FlowStoreContext.Provider>
    </ReactFlowProvider>,
  );
}

describe('ProblemsList', () => {
  it('says what is wrong in words, the raw code only as a small detail', () => {
    renderProblems([
      { level: 'error', code: 'invalid_node_data', message: '`targetNodeId` is required', nodeId: 'jump_1', field: 'data' },
      { level: 'warning', code: 'unreachable_node', message: "node 'jump_1' cannot be reached from the start node", nodeId: 'jump_1' },
    ]);
    const [first, second] = screen.getAllByRole('listitem');
    expect(first).toHaveTextContent('Error: A setting of this node is missing or not valid');
    expect(first).toHaveTextContent('`targetNodeId` is required');
    expect(second).toHaveTextContent('Warning: Nothing leads to this node');
    // the headline never is the code; the code and where it is are kept below the message
    for (const title of screen.getAllByText(/^(Error|Warning):/)) expect(title.textContent).not.toMatch(/[a-z]+_[a-z_]+/);
    const details = screen.getAllByTestId('problem-detail').map((d) => d.textContent);
    expect(details).toEqual(['node jump_1 · data · invalid_node_data', 'node jump_1 · unreachable_node']);
  });

  it('has a general sentence for a code it does not know', () => {
    renderProblems([{ level: 'error', code: 'something_new', message: 'a new check', nodeId: null }]);
    expect(screen.getByRole('listitem')).toHaveTextContent('Error: Something to fix in the flow');
    expect(screen.getByTestId('problem-detail')).toHaveTextContent('something_new');
  });

  it('knows every code the server reports', () => {
    // src/whatsapp_builder/flows/validation.py and chatbots/service.py (keyword_taken)
    const codes = [
      'invalid_nodes', 'invalid_node', 'invalid_edges', 'invalid_edge', 'duplicate_node_id', 'duplicate_edge_id',
      'unknown_node_type', 'invalid_node_data', 'duplicate_option_id', 'blank_title', 'too_many_rows',
      'missing_section_title', 'missing_options', 'missing_pattern', 'invalid_regex', 'too_many_patterns',
      'invalid_range', 'missing_rule_value', 'invalid_url', 'template_syntax', 'duplicate_title',
      'missing_start_node', 'multiple_start_nodes', 'edge_source_missing', 'edge_target_missing',
      'invalid_source_handle', 'duplicate_edge', 'jump_target_missing', 'unreachable_node', 'no_way_out',
      'unconnected_option', 'endless_loop', 'timer_loop', 'handoff_node_missing', 'handoff_keyword_is_trigger',
      'handoff_without_message', 'keyword_taken',
    ];
    expect(codes.filter((c) => problemTitle(c) === problemTitle('?'))).toEqual([]);
  });
});
