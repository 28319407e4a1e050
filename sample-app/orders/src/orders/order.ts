export type OrderStatus = 'placed' | 'cancelled';

export interface Order {
  id: number;
  item: string;
  quantity: number;
  status: OrderStatus;
  createdAt: string;
}
