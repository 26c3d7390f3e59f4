import { memo } from 'react';
import { ViewportPortal } from '@xyflow/react';
import type { LaneBox } from '../lib/graph';

/**
 * The band the `finally` steps sit in, drawn in flow coordinates under the nodes: they run after
 * every main step is terminal, whatever happened, so they are kept visibly apart from the graph.
 */
export const FinallyLane = memo(function FinallyLane({ box, count, hint }: { box: LaneBox; count: number; hint?: string }) {
  return (
    <ViewportPortal>
      <div className={`finally-lane${count ? '' : ' empty'}`} data-testid="finally-lane" data-count={count}
        style={{ transform: `translate(${box.x}px, ${box.y}px)`, width: box.width, height: box.height }}>
        <div className="finally-lane-label">
          <strong>finally</strong>
          <span>{count ? 'runs after every other step, whatever happened' : hint ?? 'no clean-up steps'}</span>
        </div>
      </div>
    </ViewportPortal>
  );
});
